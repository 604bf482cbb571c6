// ssh-rollout through a REAL haproxy (runtime API over SSH on the bastion) in front of a real fleet,
// under steady load: drain loses no request, the canary gets its share, a failing canary is out of
// rotation while it is reverted, weights and states always come back, and the requests each host was
// sent are measured (haproxy's req_tot) as the client saw them, also over a volume rule's rate window
// that starts before the canary's drain.
import { readFileSync } from 'node:fs';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { Balancer } from '../../src/engine/balancer.js';
import { ReleaseHost } from '../../src/engine/host.js';
import { parseServersState } from '../../src/lb/haproxy.js';
import {
  connectLoadBalancer,
  readLoadBalancerInputs,
  readRolloutLbSettings,
  sharesBetween,
  type LoadBalancer,
} from '../../src/lb/index.js';
import { Fleet } from '../servers/fleet.js';
import { startHaproxy, type HaproxyServer } from '../servers/haproxy.js';
import { startPrometheus, waitForHistory } from '../servers/prometheus.js';
import { connector, currents, makeArtifact, runRollout } from '../rollout/helpers.js';
import {
  RESTART,
  startHaproxyWorld,
  stopLbWorld,
  haproxyInputs,
  haproxyServers,
  sendRequests,
  startLoad,
  type Apps,
} from './helpers.js';

let tmp: string;
let fleet: Fleet;
let apps: Apps;
let haproxy: HaproxyServer;

const state = (h: HaproxyServer = haproxy) =>
  haproxyServers(h).map(({ name, weight, state }) => ({ name, weight, state }));

beforeAll(async () => {
  ({ tmp, fleet, apps, lb: haproxy } = await startHaproxyWorld('haproxy'));
}, 40_000);
afterAll(() => stopLbWorld({ tmp, fleet, apps, lb: haproxy }));

const lbInputs = () => ({
  ...haproxyInputs(fleet, haproxy),
  'reload-command': RESTART,
  'health-url': `http://{host}:${apps.port}/health`,
  'health-timeout': '3s',
});

test('drain + canary 10%: no failed request under load, the canary gets 10% ± 3 during its bake, weights restored', async () => {
  const before = state();
  const load = startLoad(haproxy.url, 4);
  const run = await runRollout(fleet, {
    ...lbInputs(),
    artifact: makeArtifact(tmp, 'v2'),
    'release-id': 'v2',
    waves: '1, 100%',
    'wave-wait': '4s',
    'canary-weight': '10%',
  });
  const samples = await load.stop();
  expect(run.failure).toBeUndefined();
  expect(run.outputs.result).toBe('success');
  expect(currents(fleet)).toEqual(['v2', 'v2', 'v2', 'v2']);
  expect(samples.filter((s) => !s.ok)).toEqual([]);
  expect(samples.length).toBeGreaterThan(100);

  const bake = run.report.waves[0].bake!;
  const during = samples.filter((s) => s.t > bake.start + 300 && s.t < bake.end - 100);
  const share = (100 * during.filter((s) => s.host === 0).length) / during.length;
  expect(during.length).toBeGreaterThan(50);
  expect(share).toBeGreaterThanOrEqual(7);
  expect(share).toBeLessThanOrEqual(13);
  expect(
    run.report.waves[0].traffic?.some(
      (t) => t.label.startsWith('canary') && Math.abs(t.share[fleet.hosts[0].id] - 10) < 1,
    ),
  ).toBe(true);
  expect(run.report.hosts[1].steps.map((s) => s.name)).toEqual(
    expect.arrayContaining(['drain', 'switch', 'reload', 'health', 'rotation']),
  );
  expect(state()).toEqual(before);
}, 60_000);

test('a canary that fails health: out of rotation while it is reverted, no failed request, weights restored', async () => {
  const before = state();
  const record = `echo "show servers state app" | socat stdio UNIX-CONNECT:${haproxy.socket} > "$DEPLOY_PATH/shared/lb-during-$RELEASE_ID"; ${RESTART}`;
  const load = startLoad(haproxy.url, 4);
  const run = await runRollout(fleet, {
    ...lbInputs(),
    artifact: makeArtifact(tmp, 'v3', { healthy: 'no\n' }),
    'release-id': 'v3',
    waves: '1, 100%',
    'wave-wait': '2s',
    'canary-weight': '10%',
    'reload-command': record,
  });
  const samples = await load.stop();
  expect(run.outputs.result).toBe('reverted');
  expect(currents(fleet)).toEqual(['v2', 'v2', 'v2', 'v2']);
  expect(samples.filter((s) => !s.ok)).toEqual([]);
  // The revert's reload (RELEASE_ID=v2) saw the canary's server drained (admin state bit 0x08).
  const seen = parseServersState(readFileSync(fleet.path(0, '/srv/app/shared/lb-during-v2'), 'utf8'), 'app');
  expect(seen.find((s) => s.name === 's0')?.state).toBe('drain');
  expect(seen.filter((s) => s.name !== 's0').every((s) => s.state === 'ready' && s.weight === 10)).toBe(true);
  expect(state()).toEqual(before);
}, 60_000);

test('a host the balancer does not know: an error before anything changes', async () => {
  const partial = await startHaproxy(
    fleet.hosts.slice(0, 2).map((h, i) => ({ name: `s${i}`, address: h.host, port: apps.port })),
  );
  try {
    const before = state(partial);
    await expect(
      runRollout(fleet, {
        ...lbInputs(),
        'lb-socket': partial.socket,
        artifact: makeArtifact(tmp, 'v4'),
        'release-id': 'v4',
      }),
    ).rejects.toThrow(
      `${fleet.hosts[2].id}: no server of 'app' has the address ${fleet.hosts[2].host}; ${fleet.hosts[3].id}: no server of 'app' has the address ${fleet.hosts[3].host}`,
    );
    expect(currents(fleet)).toEqual(['v2', 'v2', 'v2', 'v2']);
    expect(state(partial)).toEqual(before);
  } finally {
    await partial.stop();
  }
}, 30_000);

/** The provider as ssh-rollout opens it: over SSH to the bastion, which runs socat on the admin socket. */
async function openLb(): Promise<{ lb: LoadBalancer; close: () => Promise<void> }> {
  const opened = await connectLoadBalancer(
    readLoadBalancerInputs(objectInputs(lbInputs()))!,
    connector,
    fleet.credentials(),
  );
  await opened.lb.inspect(fleet.specs());
  return opened;
}

test('requestCounts: keep-alive requests are counted one by one, per host, as the client saw them', async () => {
  const { lb, close } = await openLb();
  try {
    const before = await lb.requestCounts();
    expect(before.measured).toBe(true);
    expect(Object.keys(before.byHost)).toEqual(fleet.hosts.map((h) => h.id));
    const sent = await sendRequests(haproxy.url, 40, fleet.hosts.length, { keepAlive: true });
    expect(sent).toEqual({ byHost: [10, 10, 10, 10], failed: 0, connections: 1 });
    const after = await lb.requestCounts();
    expect(fleet.hosts.map((h) => after.byHost[h.id] - before.byHost[h.id])).toEqual(sent.byHost);
    expect(sharesBetween(before, after)).toEqual({
      measured: true,
      total: 40,
      share: Object.fromEntries(fleet.hosts.map((h) => [h.id, 0.25])),
    });
    expect(sharesBetween(after, await lb.requestCounts())).toBeNull();
  } finally {
    await close();
  }
}, 30_000);

test('requestCounts: a canary at 10% is measured at about 10% of the requests between two readings', async () => {
  const original = state();
  const { lb, close } = await openLb();
  try {
    const split = await lb.setCanary([fleet.hosts[0].id], 0.1);
    const before = await lb.requestCounts();
    const sent = await sendRequests(haproxy.url, 400, fleet.hosts.length);
    const shares = sharesBetween(before, await lb.requestCounts())!;
    expect(sent.failed).toBe(0);
    expect(shares.total).toBe(400);
    expect(fleet.hosts.map((h) => shares.share[h.id] * 400)).toEqual(sent.byHost.map((n) => expect.closeTo(n, 6)));
    expect(Object.values(shares.share).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 9);
    expect(shares.share[fleet.hosts[0].id]).toBeGreaterThanOrEqual(0.07);
    expect(shares.share[fleet.hosts[0].id]).toBeLessThanOrEqual(0.13);
    expect(Math.abs(100 * shares.share[fleet.hosts[0].id] - split.share[fleet.hosts[0].id])).toBeLessThan(2);
    await lb.restore();
  } finally {
    await close();
  }
  expect(state()).toEqual(original);
}, 30_000);

/** Orders per minute on each host (openmetrics turns the counter into a rate), against the hosts not yet switched. */
const ordersWatch = (volume: boolean) =>
  [
    'source: openmetrics',
    `url: http://{host}:${apps.port}/metrics`,
    'interval: 500ms',
    'baseline: hosts',
    'rules:',
    '  - name: orders per minute',
    '    query: orders_total',
    '    max-drop: 50%',
    '    for: 2',
    ...(volume ? ['    volume: true'] : []),
  ].join('\n');

test('canary at 10% with a volume rule: judged at its measured share of requests, a healthy canary passes and one that books a tenth of each order is reverted', async () => {
  const load = startLoad(haproxy.url, 4);
  try {
    const common = { ...lbInputs(), waves: '1, 100%', 'wave-wait': '5s', 'canary-weight': '10%' };
    const good = await runRollout(fleet, {
      ...common,
      artifact: makeArtifact(tmp, 'v5'),
      'release-id': 'v5',
      watch: ordersWatch(true),
    });
    expect(good.failure).toBeUndefined();
    expect(good.outputs.result).toBe('success');
    expect(good.report.waves[0].bake).toMatchObject({ verdict: 'pass' });
    // The share the judge scaled by is the one haproxy counted, about the 10% asked for.
    const measured = good.report.waves[0].traffic?.find((t) => t.label.startsWith('measured during the bake'));
    expect(measured?.share[fleet.hosts[0].id]).toBeGreaterThan(6);
    expect(measured?.share[fleet.hosts[0].id]).toBeLessThan(14);
    expect(good.log).toMatch(
      /orders per minute: 127\.\d+\.\d+\.\d+=\d[\d.]* \(\d[\d.]* at \d[\d.]*% of requests\) vs /,
    );

    // The same healthy canary without `volume`: a tenth of the traffic reads as a 90% drop.
    const unscaled = await runRollout(fleet, {
      ...common,
      artifact: makeArtifact(tmp, 'v6'),
      'release-id': 'v6',
      watch: ordersWatch(false),
    });
    expect(unscaled.outputs.result).toBe('reverted');
    expect(unscaled.failure).toMatch(/orders per minute: fail: dropped more than 50% below the baseline/);

    const bad = await runRollout(fleet, {
      ...common,
      artifact: makeArtifact(tmp, 'v7', { 'order-value': '0.1' }),
      'release-id': 'v7',
      watch: ordersWatch(true),
    });
    expect(bad.outputs.result).toBe('reverted');
    expect(bad.failure).toMatch(
      /metric watch failed during the bake of wave 1: orders per minute: fail: dropped more than 50% below the baseline/,
    );
    expect(currents(fleet)).toEqual(['v5', 'v5', 'v5', 'v5']);
  } finally {
    expect((await load.stop()).filter((s) => !s.ok)).toEqual([]);
  }
}, 90_000);

test("the canary's share over a window that starts before its drain: the requests haproxy sent it in that window, not since the bake began", async () => {
  const before = state();
  const logger = new MemoryLogger();
  const settings = readRolloutLbSettings(objectInputs({ ...lbInputs(), 'canary-weight': '10%' }))!;
  const balancer = await Balancer.open(settings, fleet.specs(), {
    connector,
    credentials: fleet.credentials(),
    logger,
  });
  const canary = new ReleaseHost(fleet.specs()[0], {
    connector,
    credentials: fleet.credentials(),
    deployPath: '/srv/app',
  });
  const id = fleet.hosts[0].id;
  try {
    // The window starts after the first reading (open): nothing before it is extrapolated.
    const from = Date.now();
    const full = await sendRequests(haproxy.url, 200, fleet.hosts.length);
    expect(await balancer.drain(canary)).toBe('drained');
    const drained = await sendRequests(haproxy.url, 60, fleet.hosts.length);
    expect(drained.byHost[0]).toBe(0);
    await balancer.enable(canary);
    let seen: { window: number; sinceBake: number; bake: number[] } | undefined;
    await balancer.withCanary([id], 0.1, async (traffic) => {
      const bake = await sendRequests(haproxy.url, 100, fleet.hosts.length);
      const window = (await traffic.trafficShares({ from, to: Date.now() }))!.get(id)!;
      const sinceBake = (await traffic.trafficShares())!.get(id)!;
      seen = { window, sinceBake, bake: bake.byHost };
    });
    const sent = [full, drained].reduce((n, x) => n + x.byHost[0], seen!.bake[0]);
    expect(full.failed + drained.failed).toBe(0);
    // What the client saw the canary answer over the whole window: its full share, none while drained, ~10%.
    expect(seen!.window).toBeCloseTo(sent / 360, 2);
    expect(seen!.sinceBake).toBeCloseTo(seen!.bake[0] / 100, 2);
    expect(seen!.window - seen!.sinceBake).toBeGreaterThan(0.04);
  } finally {
    await balancer.close();
  }
  expect(state()).toEqual(before);
}, 30_000);

test('a volume rule over [20s] early in the bake is restated at the share of its own 20 s, which began before the drain: a healthy canary passes', async () => {
  const load = startLoad(haproxy.url, 4);
  const prom = await startPrometheus(
    fleet.hosts.map((h) => `${h.host}:${apps.port}`),
    'orders_total',
  );
  try {
    // A full rate window on every host before the rollout.
    await waitForHistory(prom, 'orders_total', 20, '20s', 40_000, fleet.hosts.length);
    const run = await runRollout(fleet, {
      ...lbInputs(),
      waves: '1, 100%',
      'wave-wait': '4s',
      'canary-weight': '10%',
      artifact: makeArtifact(tmp, 'v8'),
      'release-id': 'v8',
      watch: [
        'source: prometheus',
        `url: ${prom.url}`,
        'interval: 1s',
        'baseline: hosts',
        'rules:',
        '  - name: orders per second',
        `    query: sum(rate(orders_total{instance="{host}:${apps.port}"}[20s]))`,
        '    max-rise: 50%',
        '    max-drop: 50%',
        '    volume: true',
      ].join('\n'),
    });
    // The first reading's rate is mostly from before the bake, at the canary's full share: so is the share it
    // is restated at (since the bake began it would be ~10%, and the canary would read 2.5 times its peers).
    const first =
      /\[1\/\d+\] orders per second: [\d.]+=([\d.]+) \(([\d.]+) at ([\d.]+)% of requests\) vs ([\d.]+)/.exec(run.log);
    expect(first).not.toBeNull();
    const [value, , percent, baseline] = first!.slice(1).map(Number);
    expect(percent).toBeGreaterThan(15);
    expect(value / baseline).toBeGreaterThan(0.7);
    expect(value / baseline).toBeLessThan(1.3);
    expect(run.failure).toBeUndefined();
    expect(run.outputs.result).toBe('success');
    expect(run.report.waves[0].bake).toMatchObject({ verdict: 'pass' });
  } finally {
    await prom.close();
    expect((await load.stop()).filter((s) => !s.ok)).toEqual([]);
  }
}, 120_000);
