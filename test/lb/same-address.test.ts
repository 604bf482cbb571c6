// Hosts named by one address and distinct ports (several apps on one machine, each with its own sshd
// here) behind a REAL haproxy whose servers share that address: each host is matched to its own server
// (lb-servers, or address and port), so draining one drains one. Before, matching by address alone gave
// every host all four servers: one drain emptied the backend while the rollout reported success.
import { readFileSync, readdirSync } from 'node:fs';
import { parseServersState } from '../../src/lb/haproxy.js';
import { Fleet } from '../servers/fleet.js';
import { type HaproxyServer } from '../servers/haproxy.js';
import { currents, makeArtifact, runRollout } from '../rollout/helpers.js';
import {
  RESTART,
  startHaproxyWorld,
  stopLbWorld,
  haproxyInputs,
  haproxyServers,
  startLoad,
  type Apps,
} from './helpers.js';

let tmp: string;
let fleet: Fleet;
let apps: Apps;
let haproxy: HaproxyServer;

const state = () => haproxyServers(haproxy).map(({ name, state }) => ({ name, state }));

beforeAll(async () => {
  // Every host at 127.0.0.1 (SSH ports differ); every app at 127.0.0.1 on a port of its own.
  ({ tmp, fleet, apps, lb: haproxy } = await startHaproxyWorld('same-address', { sameAddress: true }));
}, 40_000);
afterAll(() => stopLbWorld({ tmp, fleet, apps, lb: haproxy }));

const lbInputs = () => ({
  ...haproxyInputs(fleet, haproxy),
  'health-timeout': '4s',
  // The app's port is the host's server's: {port}.
  'health-url': 'http://{host}:{port}/health',
  'reload-command': `echo "show servers state app" | socat stdio UNIX-CONNECT:${haproxy.socket} > "$DEPLOY_PATH/shared/lb-$RELEASE_ID"; ${RESTART}`,
});

test('without lb-servers: an input error naming lb-servers and each host, before anything changes', async () => {
  const before = state();
  await expect(
    runRollout(fleet, { ...lbInputs(), artifact: makeArtifact(tmp, 'v2'), 'release-id': 'v2' }),
  ).rejects.toThrow(
    new RegExp(
      `^input 'lb-servers': cannot match the hosts to the servers of 'app' one to one: ${fleet.hosts[0].id}: 4 servers of 'app' have the address 127\\.0\\.0\\.1 .* and none has port ${fleet.hosts[0].port}`,
    ),
  );
  expect(currents(fleet)).toEqual(['v1', 'v1', 'v1', 'v1']);
  expect(state()).toEqual(before);
}, 30_000);

test('with lb-servers: each host drains its own server only, no request lost under load, {port} is its app', async () => {
  const load = startLoad(haproxy.url, 4);
  const run = await runRollout(fleet, {
    ...lbInputs(),
    artifact: makeArtifact(tmp, 'v3'),
    'release-id': 'v3',
    'max-parallel': '1',
    'lb-servers': fleet.hosts.map((h, i) => `${h.id}=s${i}`).join('\n'),
  });
  const samples = await load.stop();
  expect(run.failure).toBeUndefined();
  expect(run.outputs.result).toBe('success');
  expect(currents(fleet)).toEqual(['v3', 'v3', 'v3', 'v3']);
  expect(samples.length).toBeGreaterThan(100);
  // Before: 905 of 8,786 requests failed, every server drained by each host's drain.
  expect(samples.filter((s) => !s.ok)).toEqual([]);
  for (const [i] of fleet.hosts.entries()) {
    const file = readdirSync(fleet.path(i, '/srv/app/shared')).find((f) => f === 'lb-v3')!;
    const seen = parseServersState(readFileSync(fleet.path(i, `/srv/app/shared/${file}`), 'utf8'), 'app');
    // While host i reloaded: its own server out, the three others serving.
    expect(seen.map((s) => [s.name, s.state])).toEqual(
      fleet.hosts.map((_, j) => [`s${j}`, j === i ? 'drain' : 'ready']),
    );
  }
  expect(state().every((s) => s.state === 'ready')).toBe(true);
}, 60_000);
