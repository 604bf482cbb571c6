// The architecture this project was built from: nginx in front of app servers on Unix sockets. A REAL
// nginx whose upstream is `server unix:/…;` lines, one per host (each app's socket in its host's
// shared/), driven over SSH: drain and a 10% canary under steady load, named through lb-servers,
// health checked on the host over the socket. Before, the provider could not address a unix: server
// and the rollout was refused.
import { mkdirSync, mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Fleet } from '../servers/fleet.js';
import { startNginx, type NginxServer } from '../servers/nginx.js';
import { currents, makeArtifact, runRollout } from '../rollout/helpers.js';
import { RESTART, stopLbWorld, nginxInputs, startApps, startLoad, type Apps } from './helpers.js';

let tmp: string;
let fleet: Fleet;
let apps: Apps;
let nginx: NginxServer;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-lb-nginx-unix-'));
  fleet = await Fleet.start(4, { bastion: true });
  const first = await runRollout(fleet, { artifact: makeArtifact(tmp, 'v1'), 'release-id': 'v1' });
  expect(first.outputs.result).toBe('success');
  // Each app listens on <deploy-path>/shared/app.sock of its host, as the seed's Starman did.
  for (const [i] of fleet.hosts.entries()) mkdirSync(fleet.path(i, '/srv/app/shared'), { recursive: true });
  apps = await startApps(fleet, { listen: 'unix', socketPath: (i) => fleet.path(i, '/srv/app/shared/app.sock') });
  const { uid, gid } = statSync(fleet.hosts[0].root);
  nginx = await startNginx(
    apps.sockets.map((s, i) => ({ name: `s${i}`, address: `unix:${s}`, port: 0 })),
    { uid, gid },
  );
}, 40_000);
afterAll(() => stopLbWorld({ tmp, fleet, apps, lb: nginx }));

const lbInputs = () => ({
  ...nginxInputs(fleet, nginx),
  'lb-servers': fleet.hosts.map((h, i) => `${h.id}=unix:${apps.sockets[i]}`).join('\n'),
  'reload-command': RESTART,
  // The runner cannot reach a socket on a host: the host checks itself, through the socket, three answers in a row.
  'health-command':
    'for i in 1 2 3; do curl -fsS --unix-socket "$DEPLOY_PATH/shared/app.sock" http://app/health >/dev/null || exit 1; done',
  'health-timeout': '4s',
});

test('drain and a 10% canary through nginx to Unix-socket upstreams: no request lost, the canary at 10% ± 3, the file restored', async () => {
  const original = readFileSync(nginx.upstreamFile, 'utf8');
  expect(original).toContain(`server unix:${apps.sockets[0]};`);
  const load = startLoad(nginx.url, 4);
  const run = await runRollout(fleet, {
    ...lbInputs(),
    artifact: makeArtifact(tmp, 'v2'),
    'release-id': 'v2',
    waves: '1, 100%',
    'wave-wait': '4s',
    'canary-weight': '10%',
  });
  const samples = await load.stop();
  // Each failed host with its reason, before the run's one-line failure.
  expect(run.outputs['failed-hosts']).toEqual([]);
  expect(run.failure).toBeUndefined();
  expect(run.outputs.result).toBe('success');
  expect(currents(fleet)).toEqual(['v2', 'v2', 'v2', 'v2']);
  expect(samples.length).toBeGreaterThan(100);
  // A lost request shows with what the client saw and what each drain found (a drain-timeout would explain it).
  const drains = run.report.hosts.flatMap((h) => h.steps.filter((x) => x.name === 'drain').map((x) => x.detail));
  expect({ lost: samples.filter((s) => !s.ok), drains }).toEqual({ lost: [], drains: expect.any(Array) });
  const bake = run.report.waves[0].bake!;
  const during = samples.filter((s) => s.t > bake.start + 300 && s.t < bake.end - 100);
  const share = (100 * during.filter((s) => s.host === 0).length) / during.length;
  expect(during.length).toBeGreaterThan(50);
  expect(share).toBeGreaterThanOrEqual(7);
  expect(share).toBeLessThanOrEqual(13);
  for (const h of run.report.hosts)
    expect(h.steps.map((s) => s.name)).toEqual(
      expect.arrayContaining(['drain', 'switch', 'reload', 'health', 'rotation']),
    );
  expect(readFileSync(nginx.upstreamFile, 'utf8')).toBe(original);
}, 60_000);
