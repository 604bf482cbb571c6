// Bundles every action, and the fivestep command, with ncc: one entry per call, ESM output, licenses alongside.
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync } from 'node:fs';

const entries = [
  ...readdirSync('src/actions').map((name) => ({ name, src: `src/actions/${name}/index.ts` })),
  { name: 'cli', src: 'src/cli/index.ts' },
];
const only = process.argv.slice(2);
for (const { name, src } of entries.filter((e) => only.length === 0 || only.includes(e.name))) {
  rmSync(`dist/${name}`, { recursive: true, force: true });
  execFileSync(
    'npx',
    ['ncc', 'build', src, '-o', `dist/${name}`, '--source-map', '--license', 'licenses.txt', '--quiet'],
    {
      stdio: 'inherit',
    },
  );
  // ncc copies ssh2's Windows Pageant helper; we never use an agent, and dist holds only portable JS.
  if (existsSync(`dist/${name}/pagent.exe`)) rmSync(`dist/${name}/pagent.exe`);
  console.log(`built dist/${name}`);
}
