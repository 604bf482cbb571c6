// ssh2 reads __dirname at load time; an ESM bundle has none. Imported first by every entry.
import { fileURLToPath } from 'node:url';
import { dirname } from 'node:path';

const g = globalThis as unknown as { __filename?: string; __dirname?: string };
if (g.__filename === undefined) g.__filename = fileURLToPath(import.meta.url);
if (g.__dirname === undefined) g.__dirname = dirname(g.__filename);
