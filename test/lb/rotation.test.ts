// The balancer sends users only to healthy hosts, through a REAL haproxy in front of a real fleet
// under steady load: a reverted host comes back in rotation only once its health check passes, a host
// whose revert left it unhealthy stays out after the run (and failed-hosts names it), and a revert never
// takes the last server out of rotation. Each of these lost requests before the rule was kept.
import { readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { parseServersState } from '../../src/lb/haproxy.js';
import { Fleet } from '../servers/fleet.js';
import { type HaproxyServer } from '../servers/haproxy.js';
import { currents, makeArtifact, runRollout } from '../rollout/helpers.js';
import {
  RESTART,
  startHaproxyWorld,
  stopLbWorld,
  haproxyInputs,
  haproxyRuntime,
  haproxyServers,
  sendRequests,
  startLoad,
  type Apps,
} from './helpers.js';

let tmp: string;
let fleet: Fleet;
let apps: Apps;
let haproxy: HaproxyServer;

const runtime = (line: string) => haproxyRuntime(haproxy, line);
const state = () => haproxyServers(haproxy).map(({ name, weight, state }) => ({ name, weight, state }));
const ready = () => fleet.hosts.map((_, i) => ({ name: `s${i}`, weight: 10, state: 'ready' }));

/** A reload that returns at once while the app restarts for 0.6 s (a plain HUP to a server that reloads slowly). */
const hup =
  'mkdir -p "$DEPLOY_PATH/shared"; touch "$DEPLOY_PATH/shared/restarting"; (sleep 0.6; rm -f "$DEPLOY_PATH/shared/restarting") </dev/null >/dev/null 2>&1 &';
/** Every reload also writes what haproxy shows at that moment, one file a reload. */
const snapshot = `echo "show servers state app" | socat stdio UNIX-CONNECT:{socket} > "$DEPLOY_PATH/shared/lb-$RELEASE_ID-$(date +%s%N)"`;

let release = 'v1';
beforeAll(async () => {
  ({ tmp, fleet, apps, lb: haproxy } = await startHaproxyWorld('rotation'));
}, 40_000);
afterAll(() => stopLbWorld({ tmp, fleet, apps, lb: haproxy }));
afterEach(() => {
  // Each test starts from a healthy fleet, every server ready.
  for (const [i] of fleet.hosts.entries())
    for (const f of ['restarting', 'dies-on-revert', 'fail-reload'])
      rmSync(fleet.path(i, `/srv/app/shared/${f}`), { force: true });
  for (const [i] of fleet.hosts.entries()) runtime(`set server app/s${i} state ready`);
  release = currents(fleet)[0];
});

const lbInputs = () => ({
  ...haproxyInputs(fleet, haproxy),
  'health-url': `http://{host}:${apps.port}/health`,
  'health-timeout': '4s',
});

test('a reverted host is back in rotation only once healthy: a reload that returns before the app is up loses no request', async () => {
  const load = startLoad(haproxy.url, 4);
  const run = await runRollout(fleet, {
    ...lbInputs(),
    artifact: makeArtifact(tmp, 'r1', { healthy: 'no\n' }),
    'release-id': 'r1',
    waves: '1, 100%',
    'reload-command': hup,
  });
  const samples = await load.stop();
  expect(run.outputs.result).toBe('reverted');
  expect(currents(fleet)).toEqual([release, release, release, release]);
  expect(samples.length).toBeGreaterThan(100);
  // Before: 3 of 26 reverts lost requests, all within 100 ms of the host coming back.
  expect(samples.filter((s) => !s.ok)).toEqual([]);
  const steps = run.report.hosts[0].steps.map((s) => s.name);
  expect(steps.slice(steps.lastIndexOf('revert'))).toEqual(['revert', 'health', 'rotation']);
  expect(state()).toEqual(ready());
}, 60_000);

test('a host not healthy after its revert stays out of rotation after the run, named in failed-hosts', async () => {
  // Host 0's app dies when it is put back (its old release no longer starts).
  writeFileSync(fleet.path(0, '/srv/app/shared/dies-on-revert'), '');
  const dies = `${RESTART}; if [ "$RELEASE_ID" != r2 ] && [ -e "$DEPLOY_PATH/shared/dies-on-revert" ]; then touch "$DEPLOY_PATH/shared/restarting"; fi`;
  const run = await runRollout(fleet, {
    ...lbInputs(),
    artifact: makeArtifact(tmp, 'r2', { healthy: 'no\n' }),
    'release-id': 'r2',
    waves: '1, 100%',
    'health-timeout': '2s',
    'reload-command': dies,
  });
  expect(run.outputs.result).toBe('failed');
  expect(run.outputs['failed-hosts'].map((f) => f.host)).toEqual([fleet.hosts[0].id]);
  expect(run.outputs['failed-hosts'][0].reason).toMatch(new RegExp(`back on ${release} but not healthy`));
  expect(run.log).toContain(`${fleet.hosts[0].id} left out of rotation (not healthy)`);
  expect(run.report.outOfRotation).toEqual([fleet.hosts[0].id]);
  // s0 stays out; the others as they were. Users get no answer from the dead host after the run.
  expect(state()).toEqual([{ name: 's0', weight: 10, state: 'maint' }, ...ready().slice(1)]);
  const after = await sendRequests(haproxy.url, 40, fleet.hosts.length);
  expect(after.failed).toBe(0);
  expect(after.byHost[0]).toBe(0);
}, 60_000);

test('a revert never takes the last server out of rotation: 4 hosts put back at once, one always serving', async () => {
  // Wave 2's only host fails its reload: the rollout stops and puts all four back in parallel.
  writeFileSync(fleet.path(3, '/srv/app/shared/fail-reload'), '');
  const reload = `${snapshot.replace('{socket}', haproxy.socket)}; if [ "$RELEASE_ID" = r3 ] && [ -e "$DEPLOY_PATH/shared/fail-reload" ]; then exit 1; fi; ${RESTART}`;
  const load = startLoad(haproxy.url, 4);
  const run = await runRollout(fleet, {
    ...lbInputs(),
    artifact: makeArtifact(tmp, 'r3'),
    'release-id': 'r3',
    waves: '3, 1',
    'max-parallel': '4',
    'reload-command': reload,
  });
  const samples = await load.stop();
  expect(run.outputs.result).toBe('reverted');
  expect(currents(fleet)).toEqual([release, release, release, release]);
  expect(samples.filter((s) => !s.ok)).toEqual([]);
  // What haproxy showed at every reload (forward and revert): never every server out of rotation.
  const seen = fleet.hosts.flatMap((_, i) =>
    readdirSync(fleet.path(i, '/srv/app/shared'))
      .filter((f) => f.startsWith('lb-'))
      .map((f) => parseServersState(readFileSync(fleet.path(i, `/srv/app/shared/${f}`), 'utf8'), 'app')),
  );
  expect(seen.length).toBeGreaterThanOrEqual(7);
  expect(seen.filter((servers) => servers.every((s) => s.state !== 'ready'))).toEqual([]);
  expect(run.log).toMatch(/a host is drained only while another server stays in rotation/);
  expect(state()).toEqual(ready());
}, 60_000);

test('every host of a wave fails while the last waits to drain: that one is left alone, the rest put back, no hang', async () => {
  const run = await runRollout(fleet, {
    ...lbInputs(),
    artifact: makeArtifact(tmp, 'r4', { healthy: 'no\n' }),
    'release-id': 'r4',
    waves: '100%',
    'max-parallel': '4',
    'health-timeout': '1s',
    'reload-command': RESTART,
  });
  expect(run.outputs.result).toBe('reverted');
  expect(currents(fleet)).toEqual([release, release, release, release]);
  // Three drained and failed; the fourth never left rotation and was never switched.
  expect(run.report.hosts.map((h) => h.outcome).sort()).toEqual(['failed', 'failed', 'failed', 'skipped']);
  const skipped = run.report.hosts.find((h) => h.outcome === 'skipped')!;
  expect(skipped.steps.map((s) => s.name)).not.toContain('drain');
  expect(state()).toEqual(ready());
}, 60_000);

test('the last server in rotation is not drained: it switches while serving, with a warning', async () => {
  // An operator has three servers in maintenance: only s0 serves.
  for (const i of [1, 2, 3]) runtime(`set server app/s${i} state maint`);
  const load = startLoad(haproxy.url, 2);
  const run = await runRollout(fleet, {
    ...lbInputs(),
    hosts: fleet.hostsInput.split('\n')[0],
    artifact: makeArtifact(tmp, 'r5'),
    'release-id': 'r5',
    'reload-command': 'true',
  });
  const samples = await load.stop();
  expect(run.outputs.result).toBe('success');
  expect(run.log).toContain(
    `${fleet.hosts[0].id}: not drained: it is the last server of 'app' in rotation, so it switches while serving`,
  );
  expect(samples.filter((s) => !s.ok)).toEqual([]);
  expect(state()).toEqual([
    ready()[0],
    ...ready()
      .slice(1)
      .map((s) => ({ ...s, state: 'maint' })),
  ]);
}, 60_000);
