// The committed bundles run as the runner runs them: `node dist/<name>/index.js`, inputs as INPUT_*,
// outputs through GITHUB_OUTPUT. On Node 24 (what action.yml declares) when FIVESTEP_NODE points at it.
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../servers/fleet.js';

const node = process.env.FIVESTEP_NODE || process.execPath;
const work = mkdtempSync(join(tmpdir(), 'fivestep-dist-'));

function runBundle(name: string, inputs: Record<string, string>) {
  const output = join(work, `${name}-${Math.random().toString(36).slice(2)}.out`);
  writeFileSync(output, '');
  const env: NodeJS.ProcessEnv = { PATH: process.env.PATH, HOME: process.env.HOME, GITHUB_OUTPUT: output, RUNNER_TEMP: work };
  for (const [k, v] of Object.entries(inputs)) env[`INPUT_${k.toUpperCase()}`] = v;
  const r = spawnSync(node, [`dist/${name}/index.js`], { env, encoding: 'utf8', timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, outputs: readFileSync(output, 'utf8') };
}

/** Reads one value from the GITHUB_OUTPUT file format (`name<<DELIM\nvalue\nDELIM`). */
function output(file: string, name: string): string | undefined {
  const m = new RegExp(`^${name}<<(\\S+)\\n([\\s\\S]*?)\\n\\1$`, 'm').exec(file);
  return m?.[2];
}

test.each([
  ['ssh-rollout', { 'deploy-path': '/srv/app', artifact: '.', 'private-key': 'x' }, "input 'hosts': is required"],
  ['metric-watch', { url: 'http://127.0.0.1:9/' }, "input 'rules'"],
  ['test-gate', {}, "input 'command'"],
  ['auto-revert', { hosts: 'a b c', 'deploy-path': '/srv/app' }, "input 'hosts'"],
])('the %s bundle loads and fails a bad input with a message naming it', (name, inputs, message) => {
  const r = runBundle(name, inputs as Record<string, string>);
  expect(r.code).toBe(1);
  expect(r.stdout).toContain(`::error::${message}`);
});

test('the ssh-rollout bundle deploys to real hosts and writes its outputs', async () => {
  const fleet = await Fleet.start(2);
  try {
    const artifact = join(work, 'artifact');
    mkdirSync(artifact, { recursive: true });
    writeFileSync(join(artifact, 'VERSION'), 'bundle\n');
    const r = runBundle('ssh-rollout', {
      hosts: fleet.hostsInput,
      'private-key': fleet.clientKey,
      'known-hosts': fleet.knownHosts(),
      artifact,
      'deploy-path': '/srv/app',
      'release-id': 'from-bundle',
      'health-command': 'grep -q bundle VERSION',
    });
    expect(r.stdout).not.toContain('::error::');
    expect(r.code).toBe(0);
    expect(output(r.outputs, 'result')).toBe('success');
    expect(JSON.parse(output(r.outputs, 'updated-hosts') ?? '[]')).toEqual(fleet.hosts.map((h) => h.id));
    for (let i = 0; i < 2; i++) expect(readlinkSync(fleet.path(i, '/srv/app/current'))).toBe('releases/from-bundle');
  } finally {
    await fleet.stop();
  }
});
