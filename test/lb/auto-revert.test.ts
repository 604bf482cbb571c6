// auto-revert behind a REAL haproxy, through the same Balancer as ssh-rollout: once the hosts are back,
// the balancer is settled on who is healthy (in rotation at the configured weight, or out), and a
// balancer that cannot be reached never stops the hosts from being put back.
import { rmSync, writeFileSync } from 'node:fs';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { autoRevert } from '../../src/revert/main.js';
import { Fleet } from '../servers/fleet.js';
import { type HaproxyServer } from '../servers/haproxy.js';
import { connector, currents, makeArtifact, runRollout } from '../rollout/helpers.js';
import { haproxyInputs, haproxyRuntime, haproxyServers, startHaproxyWorld, stopLbWorld, type Apps } from './helpers.js';

let tmp: string;
let fleet: Fleet;
let apps: Apps;
let haproxy: HaproxyServer;

const runtime = (line: string) => haproxyRuntime(haproxy, line);
const state = () => haproxyServers(haproxy).map(({ name, weight, state }) => `${name} ${state} ${weight}`);

beforeAll(async () => {
  ({ tmp, fleet, apps, lb: haproxy } = await startHaproxyWorld('auto-revert'));
}, 40_000);
afterAll(() => stopLbWorld({ tmp, fleet, apps, lb: haproxy }));
afterEach(() => {
  for (const [i] of fleet.hosts.entries()) {
    rmSync(fleet.path(i, '/srv/app/shared/restarting'), { force: true });
    runtime(`set server app/s${i} state ready`);
  }
});

async function revert(inputs: Record<string, string>) {
  const logger = new MemoryLogger();
  const result = await autoRevert(
    objectInputs({
      hosts: fleet.hostsInput,
      'private-key': fleet.clientKey,
      'known-hosts': fleet.knownHosts(),
      'deploy-path': '/srv/app',
      'health-url': `http://{host}:${apps.port}/health`,
      'health-timeout': '2s',
      'rca-issue': 'false',
      reason: 'error rate above 5%',
      ...inputs,
    }),
    { connector, logger, mask: () => {}, env: { GITHUB_REPOSITORY: 'acme/shop', GITHUB_SHA: 'a'.repeat(40) } },
  );
  return { result, log: logger.text() };
}

test('settled after the revert: healthy hosts in rotation at their weight, the one not healthy on v1 out', async () => {
  const bad = await runRollout(fleet, { artifact: makeArtifact(tmp, 'v2'), 'release-id': 'v2' });
  expect(bad.outputs.result).toBe('success');
  // A failed run left s1 and s2 out of rotation; host 2's app will not come up on v1.
  runtime('set server app/s1 state maint');
  runtime('set server app/s2 state maint');
  writeFileSync(fleet.path(2, '/srv/app/shared/restarting'), '');
  const { result, log } = await revert({ ...haproxyInputs(fleet, haproxy), 'bad-release': 'v2' });
  expect(currents(fleet)).toEqual(['v1', 'v1', 'v1', 'v1']);
  expect(result.outputs.result).toBe('failed');
  expect(result.failure).toContain(`${fleet.hosts[2].id}: failed: switched back to v1 but not healthy`);
  expect(state()).toEqual(['s0 ready 10', 's1 ready 10', 's2 maint 10', 's3 ready 10']);
  expect(log).toMatch(/Load balancer haproxy .* 'app': /);
  expect(log).toContain(`out of rotation (not healthy): ${fleet.hosts[2].id}`);
}, 60_000);

test('a balancer that cannot be reached is a warning: the hosts are put back all the same', async () => {
  const bad = await runRollout(fleet, { artifact: makeArtifact(tmp, 'v3'), 'release-id': 'v3' });
  expect(bad.outputs.result).toBe('success');
  const { result, log } = await revert({
    ...haproxyInputs(fleet, haproxy),
    'lb-socket': '/nonexistent/haproxy.sock',
    'bad-release': 'v3',
    // Host 2's v1 is recorded failed by the test before: name where to go.
    'to-release': 'v1',
  });
  expect(result.outputs.result).toBe('reverted');
  expect(currents(fleet)).toEqual(['v1', 'v1', 'v1', 'v1']);
  expect(log).toMatch(/warning: load balancer haproxy: .*; weights and states are not reset/);
  expect(state()).toEqual(['s0 ready 10', 's1 ready 10', 's2 ready 10', 's3 ready 10']);
}, 60_000);
