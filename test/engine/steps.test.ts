// The step table on its own, on hosts that are local directories (local-hosts.ts): each step sends the
// command the table builds (the one the dry run prints), and a delta the host cannot use falls back to
// the whole artifact as an explicit step outcome.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/common/logger.js';
import type { PreparedArtifact } from '../../src/artifact/prepare.js';
import type { StepRecord } from '../../src/engine/step-record.js';
import { STEPS, runSteps } from '../../src/engine/steps.js';
import { EXIT } from '../../src/release/commands.js';
import { DEPLOY, LocalHosts } from './local-hosts.js';
import { makeArtifact, stepRun } from './step-run.js';

let tmp: string;
beforeAll(() => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-steps-'));
});
afterAll(() => rmSync(tmp, { recursive: true, force: true }));
const artifact = (name: string, files: Record<string, string>, delta: boolean) => makeArtifact(tmp, name, files, delta);

const steps = (records: StepRecord[]) => records.map((s) => `${s.name}${s.ok ? '' : ' (failed)'}`);

test('each step sends exactly the command the table builds: the one the dry run prints', async () => {
  const hosts = LocalHosts.create(join(tmp, 'same'), 1);
  const a = await artifact('same', { version: 'v1\n' }, false);
  const r = stepRun(hosts, a, 'v1');
  const plan = ['connect', 'state', 'upload', 'unpack', 'link', 'setup', 'switch', 'reload', 'record'] as const;
  await runSteps(plan, r);
  expect(hosts.current(0)).toBe('v1');
  expect(steps(r.host.steps)).toEqual([...plan]);
  // connect sends nothing; every other step one command, the table's.
  expect(hosts.commands.map((c) => c.command)).toEqual(plan.slice(1).map((name) => STEPS[name].command(r.input)));
  expect(readFileSync(hosts.path(0, `${DEPLOY}/shared/reloads`), 'utf8')).toBe('v1\n');
  expect(r.staging).toBe('full');
  expect(r.sentBytes).toBe(a.content.length);
});

test('a host with no release to build from answers compare with none: the whole artifact is sent instead', async () => {
  const hosts = LocalHosts.create(join(tmp, 'fresh'), 1);
  const a = await artifact('fresh', { version: 'v1\n', 'app.js': 'x'.repeat(5000) }, true);
  const r = stepRun(hosts, a, 'v1');
  expect(await runSteps(['connect', 'state', 'compare', 'unpack'], r)).toBe('done');
  expect(steps(r.host.steps)).toEqual(['connect', 'state', 'compare', 'upload', 'unpack']);
  expect(r.host.steps.find((s) => s.name === 'compare')!.detail).toMatch(/^whole artifact: /);
  expect(r.staging).toBe('full');
  expect(r.sentBytes).toBe(a.delta!.manifest.length + a.content.length);
  expect(hosts.releases(0)).toEqual(['v1']);
});

/** A host on v1 (staged whole), and v2's artifact with one file changed. */
async function onV1(name: string): Promise<{ hosts: LocalHosts; v2: PreparedArtifact }> {
  const hosts = LocalHosts.create(join(tmp, name), 1);
  // Incompressible, so that sending only what changed is worth it.
  const body = randomBytes(20_000).toString('base64');
  const v1 = await artifact(`${name}-v1`, { version: 'v1\n', 'lib.js': body }, true);
  await runSteps(['connect', 'upload', 'unpack', 'switch'], stepRun(hosts, v1, 'v1'));
  const v2 = await artifact(`${name}-v2`, { version: 'v2\n', 'lib.js': body }, true);
  return { hosts, v2 };
}

test('a delta build that fails its check falls back to the whole artifact: the records and the log say so', async () => {
  const { hosts, v2 } = await onV1('mismatch');
  const logger = new MemoryLogger();
  const r = stepRun(hosts, v2, 'v2', logger);
  r.input = { ...r.input, previous: 'v1' };
  const mismatch = { code: EXIT.deltaMismatch, stdout: '', stderr: 'delta: files differ from the manifest' };
  hosts.fail(0, /\.partial/, mismatch);
  await runSteps(['connect', 'compare', 'unpack'], r);
  expect(steps(r.host.steps)).toEqual(['connect', 'compare', 'unpack (failed)', 'upload', 'unpack']);
  expect(logger.text()).toMatch(/delta staging failed, sending the whole artifact: .*files differ from the manifest/);
  expect(r.staging).toBe('full');
  expect(hosts.releases(0)).toEqual(['v1', 'v2']);
});

test('a delta build refused for want of room fails the host: no whole artifact is sent after it', async () => {
  const { hosts, v2 } = await onV1('no-room');
  const r = stepRun(hosts, v2, 'v2');
  r.input = { ...r.input, previous: 'v1' };
  hosts.fail(0, /\.partial/, { code: EXIT.noSpace, stdout: '', stderr: 'not enough space' });
  const before = hosts.commands.length;
  await expect(runSteps(['connect', 'compare', 'unpack'], r)).rejects.toMatchObject({ step: 'unpack', code: 69 });
  expect(steps(r.host.steps)).toEqual(['connect', 'compare', 'unpack (failed)']);
  const upload = STEPS.upload.command(r.input);
  expect(hosts.commands.slice(before).some((c) => c.command === upload)).toBe(false);
  expect(hosts.releases(0)).toEqual(['v1']);
});

test('a delta worth sending builds the release from the current one: only the changed file is sent', async () => {
  const { hosts, v2 } = await onV1('delta');
  const r = stepRun(hosts, v2, 'v2');
  r.input = { ...r.input, previous: 'v1' };
  await runSteps(['connect', 'compare', 'unpack'], r);
  expect(steps(r.host.steps)).toEqual(['connect', 'compare', 'unpack']);
  expect(r.staging).toBe('delta');
  expect(r.sentBytes).toBeLessThan(v2.content.length);
  expect(readFileSync(hosts.path(0, `${DEPLOY}/releases/v2/version`), 'utf8')).toBe('v2\n');
});
