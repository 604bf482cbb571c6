// ssh-rollout through a REAL nginx (upstream file rewritten, `nginx -t`, reload, over SSH on the bastion):
// drain loses no request under load and the upstream file is restored byte for byte; requestCounts gives
// the weights in rotation (nginx OSS counts nothing per server), marked as not measured.
import { mkdtempSync, readFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { objectInputs } from '../../src/common/inputs.js';
import { connectLoadBalancer, readLoadBalancerInputs, sharesBetween } from '../../src/lb/index.js';
import { Fleet } from '../servers/fleet.js';
import { startNginx, type NginxServer } from '../servers/nginx.js';
import { connector, currents, makeArtifact, runRollout } from '../rollout/helpers.js';
import { RESTART, stopLbWorld, nginxInputs, startApps, startLoad, type Apps } from './helpers.js';

let tmp: string;
let fleet: Fleet;
let apps: Apps;
let nginx: NginxServer;

beforeAll(async () => {
  tmp = mkdtempSync(join(tmpdir(), 'fivestep-lb-nginx-'));
  fleet = await Fleet.start(3, { distinctAddresses: true, bastion: true });
  apps = await startApps(fleet);
  const { uid, gid } = statSync(fleet.hosts[0].root);
  nginx = await startNginx(
    fleet.hosts.map((h) => ({ name: h.host, address: h.host, port: apps.port })),
    { uid, gid },
  );
}, 40_000);
afterAll(() => stopLbWorld({ tmp, fleet, apps, lb: nginx }));

test('drain through nginx: no failed request under load, the upstream file restored', async () => {
  const original = readFileSync(nginx.upstreamFile, 'utf8');
  const load = startLoad(nginx.url, 3);
  const run = await runRollout(fleet, {
    artifact: makeArtifact(tmp, 'v1'),
    'release-id': 'v1',
    waves: '1, 100%',
    ...nginxInputs(fleet, nginx),
    'reload-command': RESTART,
    'health-url': `http://{host}:${apps.port}/health`,
  });
  const samples = await load.stop();
  expect(run.failure).toBeUndefined();
  expect(run.outputs.result).toBe('success');
  expect(currents(fleet)).toEqual(['v1', 'v1', 'v1']);
  expect(samples.length).toBeGreaterThan(50);
  expect(samples.filter((s) => !s.ok)).toEqual([]);
  expect(run.report.hosts[0].steps.map((s) => s.name)).toEqual(expect.arrayContaining(['drain', 'rotation']));
  expect(readFileSync(nginx.upstreamFile, 'utf8')).toBe(original);
}, 60_000);

test('requestCounts through nginx: the configured weights in rotation, not measured; a down host gets 0', async () => {
  const original = readFileSync(nginx.upstreamFile, 'utf8');
  const settings = readLoadBalancerInputs(objectInputs(nginxInputs(fleet, nginx)))!;
  const { lb, close } = await connectLoadBalancer(settings, connector, fleet.credentials());
  const [a, b, c] = fleet.hosts.map((h) => h.id);
  try {
    await lb.inspect(fleet.specs());
    const plain = await lb.requestCounts();
    expect(plain).toEqual({ measured: false, byHost: { [a]: 1, [b]: 1, [c]: 1 } });
    expect(sharesBetween(plain, plain)?.share[a]).toBeCloseTo(1 / 3, 9);

    await lb.setCanary([a], 0.1);
    // canaryWeights with max 1000: the others 1000 each, the canary 0.1 × 2000 / 0.9 ≈ 222.
    const canary = await lb.requestCounts();
    expect(canary).toEqual({ measured: false, byHost: { [a]: 222, [b]: 1000, [c]: 1000 } });
    expect(sharesBetween(canary, canary)).toEqual({
      measured: false,
      total: 2222,
      share: { [a]: 222 / 2222, [b]: 1000 / 2222, [c]: 1000 / 2222 },
    });
    expect(readFileSync(nginx.upstreamFile, 'utf8')).toContain(
      `server ${fleet.hosts[0].host}:${apps.port} weight=222;`,
    );

    await lb.drain(c, 5000);
    expect((await lb.requestCounts()).byHost).toEqual({ [a]: 222, [b]: 1000, [c]: 0 });
    expect(sharesBetween(canary, await lb.requestCounts())?.share[c]).toBe(0);
    await lb.restore();
  } finally {
    await close();
  }
  expect(readFileSync(nginx.upstreamFile, 'utf8')).toBe(original);
}, 30_000);
