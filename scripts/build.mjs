// Bundles every action with ncc: one entry per call, ESM output, licenses alongside.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';

const only = process.argv.slice(2);
const actions = readdirSync('src/actions').filter((name) => only.length === 0 || only.includes(name));
for (const name of actions) {
  rmSync(`dist/${name}`, { recursive: true, force: true });
  execFileSync(
    'npx',
    [
      'ncc',
      'build',
      `src/actions/${name}/index.ts`,
      '-o',
      `dist/${name}`,
      '--source-map',
      '--license',
      'licenses.txt',
      '--quiet',
    ],
    { stdio: 'inherit' },
  );
  // ncc copies ssh2's Windows Pageant helper; we never use an agent, and dist holds only portable JS.
  if (existsSync(`dist/${name}/pagent.exe`)) rmSync(`dist/${name}/pagent.exe`);
  console.log(`built dist/${name}`);
}
