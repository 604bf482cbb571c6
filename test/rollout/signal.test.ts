// The real ssh-rollout entry, run as the runner runs it (inputs in INPUT_* variables, outputs to
// GITHUB_OUTPUT), gets SIGTERM mid-rollout: it puts the switched host back, releases every lock
// and exits non-zero with result=reverted.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Fleet } from '../servers/fleet.js';
import { currentOf, currents, lockHeld, makeArtifact, runRollout, waitFor } from './helpers.js';

const REPO = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const ENTRY = join(REPO, 'src', 'actions', 'ssh-rollout', 'index.ts');

let fleet: Fleet;
let tmp: string;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-signal-test-'));
  fleet = await Fleet.start(3);
  const v1 = await runRollout(
    fleet,
    { artifact: makeArtifact(tmp, 'v1'), 'release-id': 'v1' },
    { env: { RUNNER_TEMP: tmp } },
  );
  expect(v1.outputs.result).toBe('success');
}, 30_000);
afterAll(async () => {
  await fleet?.stop();
  rmSync(tmp, { recursive: true, force: true });
});

/** Reads `name<<delimiter\nvalue\ndelimiter` entries as @actions/core writes them. */
function parseGithubOutput(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const re = /^([^\n<]+)<<(\S+)\n([\s\S]*?)\n\2$/gm;
  for (const m of text.matchAll(re)) out[m[1]] = m[3];
  return out;
}

test('SIGTERM during the bake after wave 1: the switched host goes back, locks are released, result=reverted', async () => {
  const outputFile = join(tmp, 'github_output');
  writeFileSync(outputFile, '');
  const inputs: Record<string, string> = {
    hosts: fleet.hostsInput,
    'private-key': fleet.clientKey,
    'known-hosts': fleet.knownHosts(),
    artifact: makeArtifact(tmp, 'v2'),
    'deploy-path': '/srv/app',
    'release-id': 'v2',
    waves: '1, 100%',
    'wave-wait': '5s',
  };
  const env: NodeJS.ProcessEnv = { ...process.env, GITHUB_OUTPUT: outputFile, RUNNER_TEMP: tmp };
  // The child is a plain Node process: no jest VM flags, no job summary of the outer run.
  delete env.NODE_OPTIONS;
  delete env.GITHUB_STEP_SUMMARY;
  // @actions/core reads INPUT_<NAME upper-cased, spaces as _> (hyphens kept).
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;

  const child = spawn(process.execPath, ['--import', 'tsx', ENTRY], {
    cwd: REPO,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  try {
    await waitFor(
      'wave 1 (host 0) to switch to v2',
      () => currentOf(fleet, 0) === 'v2' || child.exitCode !== null,
      30_000,
    );
    expect({ exitCode: child.exitCode, stderr }).toEqual({ exitCode: null, stderr: expect.any(String) });
    // Wave 1 is baking; wave 2 has not started.
    expect(currents(fleet)).toEqual(['v2', 'v1', 'v1']);
    const sentAt = Date.now();
    child.kill('SIGTERM');
    let timer: ReturnType<typeof setTimeout> | undefined;
    const code = await Promise.race([
      exited,
      new Promise<'timeout'>((r) => (timer = setTimeout(() => r('timeout'), 10_000))),
    ]);
    clearTimeout(timer);
    expect(code).not.toBe('timeout');
    expect(Date.now() - sentAt).toBeLessThan(5000);
    expect(code).not.toBe(0);

    expect(currents(fleet)).toEqual(['v1', 'v1', 'v1']);
    for (let i = 0; i < 3; i++) expect(lockHeld(fleet, i)).toBe(false);
    const outputs = parseGithubOutput(readFileSync(outputFile, 'utf8'));
    expect(outputs.result).toBe('reverted');
    expect(JSON.parse(outputs['updated-hosts'])).toEqual([]);
    expect(stdout).toContain('::warning::received SIGTERM: stopping the rollout and putting switched hosts back');
    expect(stdout).toMatch(
      /::error::rollout of v2 stopped and reverted: cancelled \(a signal: the job was cancelled, or Ctrl-C\)/,
    );
    const report = JSON.parse(readFileSync(outputs.report, 'utf8'));
    expect(report.hosts.map((h: { outcome: string }) => h.outcome)).toEqual(['reverted', 'skipped', 'skipped']);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}, 60_000);
