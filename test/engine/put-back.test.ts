// The put-back a failed rollout and auto-revert share (engine/put-back.ts), on a local-directory host:
// back and reloaded, or exactly where it went wrong (not switched back, switched back but the reload
// failed, switched back but not healthy), with the bad marker written even after a failed reload.
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { PreparedArtifact } from '../../src/artifact/prepare.js';
import { putBack } from '../../src/engine/put-back.js';
import type { StepRecord } from '../../src/engine/step-record.js';
import type { StepRun } from '../../src/engine/step-input.js';
import { runSteps } from '../../src/engine/steps.js';
import { DEPLOY, LocalHosts } from './local-hosts.js';
import { makeArtifact, stepRun } from './step-run.js';

let tmp: string;
let v1: PreparedArtifact;
let v2: PreparedArtifact;
beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-put-back-'));
  v1 = await makeArtifact(tmp, 'v1', { version: 'v1\n' }, false);
  v2 = await makeArtifact(tmp, 'v2', { version: 'v2\n' }, false);
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A host switched from v1 to v2, about to be put back on `target`. */
async function switchedToV2(name: string, target = 'v1'): Promise<{ hosts: LocalHosts; r: StepRun }> {
  const hosts = LocalHosts.create(join(tmp, name), 1);
  await runSteps(['connect', 'upload', 'unpack', 'switch'], stepRun(hosts, v1, 'v1'));
  const r = stepRun(hosts, v2, 'v2');
  await runSteps(['connect', 'upload', 'unpack', 'switch'], r);
  r.input = { ...r.input, previous: 'v1', target, badMarker: 'auto-revert: test' };
  expect(hosts.current(0)).toBe('v2');
  return { hosts, r };
}

const last = (records: StepRecord[], n: number) => records.slice(-n).map((s) => `${s.name}${s.ok ? '' : ' (failed)'}`);
const reloads = (hosts: LocalHosts) => {
  const file = hosts.path(0, `${DEPLOY}/shared/reloads`);
  return existsSync(file) ? readFileSync(file, 'utf8') : '';
};
const healthy = async () => ({ ok: true, detail: 'healthy after 1 attempt(s), 5 ms', attempts: 1, ms: 5 });
const sick = async () => ({ ok: false, detail: 'HTTP 503', attempts: 1, ms: 5 });

test('back: switched back and reloaded in one revert step, the reload seeing the release it went back to', async () => {
  const { hosts, r } = await switchedToV2('back');
  r.health = healthy;
  expect(await putBack(r, ['revert', 'health'])).toEqual({ kind: 'back' });
  expect(hosts.current(0)).toBe('v1');
  expect(last(r.host.steps, 2)).toEqual(['revert', 'health']);
  expect(r.host.steps.at(-2)!.detail).toBe('back on v1');
  expect(reloads(hosts).trim().split('\n').at(-1)).toBe('v1');
  expect(r.switched).toBe(false);
});

test('not back: the switch back failed, so nothing after it runs (no bad marker, no health check)', async () => {
  const { hosts, r } = await switchedToV2('not-back');
  r.health = healthy;
  hosts.fail(0, /current/, { code: 1, stdout: '', stderr: 'mv: cannot move' }, true);
  const result = await putBack(r, ['revert', 'mark-bad', 'health']);
  expect(result).toEqual({ kind: 'not-back', message: expect.stringContaining('mv: cannot move') });
  expect(last(r.host.steps, 1)).toEqual(['revert (failed)']);
  expect(hosts.current(0)).toBe('v2');
});

test('reload failed: switched back all the same, the release still marked bad, no health check', async () => {
  const { hosts, r } = await switchedToV2('reload-failed');
  r.health = healthy;
  hosts.fail(0, /reloads/, { code: 3, stdout: '', stderr: 'reload broke' });
  const result = await putBack(r, ['revert', 'mark-bad', 'health']);
  expect(result).toEqual({
    kind: 'reload-failed',
    message: expect.stringMatching(/^switched back to v1, but its reload failed: reload broke/),
  });
  expect(hosts.current(0)).toBe('v1');
  expect(last(r.host.steps, 2)).toEqual(['revert (failed)', 'mark-bad']);
});

test('unhealthy: back on its target, but its health check fails there', async () => {
  const { hosts, r } = await switchedToV2('unhealthy');
  r.health = sick;
  expect(await putBack(r, ['revert', 'health'])).toEqual({ kind: 'unhealthy', message: 'health failed: HTTP 503' });
  expect(hosts.current(0)).toBe('v1');
  expect(last(r.host.steps, 2)).toEqual(['revert', 'health (failed)']);
});

test('a connection lost during the switch back: connected again and switched back once more', async () => {
  const { hosts, r } = await switchedToV2('lost');
  hosts.fail(0, /current/, 'lost');
  expect(await putBack(r, ['revert'])).toEqual({ kind: 'back' });
  expect(hosts.current(0)).toBe('v1');
  expect(last(r.host.steps, 2)).toEqual(['connect', 'revert']);
});

test('no release to go back to: current is removed, and there is no reload to run', async () => {
  const { hosts, r } = await switchedToV2('none', '');
  const before = reloads(hosts);
  expect(await putBack(r, ['revert'])).toEqual({ kind: 'back' });
  expect(hosts.current(0)).toBe('');
  expect(reloads(hosts)).toBe(before);
  expect(r.host.steps.at(-1)!.detail).toBe('back on (no release)');
});
