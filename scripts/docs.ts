// `npm run docs`: regenerates the README's action reference from actions/*/action.yml and each action's
// "Permissions" line from src/docs/permissions.ts.
import { readFileSync, writeFileSync } from 'node:fs';
import { regenerateReadme } from '../src/docs/reference.js';

const readme = readFileSync('README.md', 'utf8');
const next = regenerateReadme(readme, '.');
if (next !== readme) writeFileSync('README.md', next);
console.log(next === readme ? 'README reference already up to date' : 'README reference updated');
