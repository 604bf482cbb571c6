// The engine's balancer under canary-weight: the request counters are read before each change (from before wave
// 1's drain) and at each reading of the bake, so a volume rule's share is taken over its rate's own window. A
// simulated haproxy on a virtual clock: 60 requests/s split by the weights in rotation, counted per server.
import { MemoryLogger } from '../../src/common/logger.js';
import type { HostSpec } from '../../src/common/inputs.js';
import { Balancer, type BakeTraffic } from '../../src/engine/balancer.js';
import { ReleaseHost } from '../../src/engine/host.js';
import type { LbServer, RolloutLbSettings } from '../../src/lb/index.js';
import { createTrackedBalancer, type BalancerDriver } from '../../src/lb/weights.js';
import type { SshCredentials } from '../../src/ssh/types.js';

const spec = (host: string): HostSpec => ({ user: 'deploy', host, port: 22 });
const HOSTS = ['a', 'b', 'c', 'd'].map(spec);
const RATE = 60 / 1000;

function world(canaryShare: number | null) {
  let now = 0;
  const servers = new Map<string, LbServer>(
    HOSTS.map((h, i) => [`s${i}`, { name: `s${i}`, address: h.host, port: 8080, weight: 10, state: 'ready' }]),
  );
  const served = new Map([...servers.keys()].map((n) => [n, 0]));
  let reads = 0;
  // Requests go to the servers in rotation by weight, as time passes.
  const advance = (ms: number) => {
    const live = [...servers.values()].filter((s) => s.state === 'ready');
    const total = live.reduce((a, s) => a + s.weight, 0);
    for (const s of live) served.set(s.name, served.get(s.name)! + (RATE * ms * s.weight) / total);
    now += ms;
  };
  const driver: BalancerDriver = {
    kind: 'haproxy',
    backend: 'app',
    backendLabel: "'app'",
    // 90: a 10% canary weight comes out exact (30 against 3 × 90).
    maxWeight: 90,
    readServers: async () => [...servers.values()].map((s) => ({ ...s })),
    async apply(_changes, next) {
      for (const [name, s] of next) servers.set(name, { ...s });
    },
    inFlight: async () => async () => 0,
    async requestCounts(byHost) {
      reads++;
      return {
        measured: true,
        byHost: Object.fromEntries([...byHost].map(([h, s]) => [h, Math.round(served.get(s.name)!)])),
      };
    },
  };
  const clock = { now: () => now, sleep: async (ms: number) => advance(ms), pollMs: 10 };
  const provider = createTrackedBalancer(driver, clock);
  const settings: RolloutLbSettings = {
    kind: 'haproxy',
    host: spec('lb'),
    backend: 'app',
    socket: '/run/haproxy/admin.sock',
    upstreamFile: '',
    servers: new Map(),
    canaryShare,
    drain: true,
    drainTimeoutMs: 1000,
  };
  const credentials = {} as SshCredentials;
  const connector = async () => {
    throw new Error('no SSH here');
  };
  const open = () =>
    Balancer.open(settings, HOSTS, { connector, credentials, logger: new MemoryLogger(), provider, now: clock.now });
  const host = (i: number) =>
    new ReleaseHost(HOSTS[i], { connector, credentials, deployPath: '/srv/app', now: clock.now });
  return { open, host, advance, now: () => now, reads: () => reads };
}

test("a bake reading's share over its rate's window reaches back before the drain; without a window, since the bake began", async () => {
  const w = world(0.1);
  const balancer = await w.open();
  w.advance(10_000);
  const canary = w.host(0);
  expect(await balancer.drain(canary)).toBe('drained');
  w.advance(10_000);
  await balancer.enable(canary);
  w.advance(10_000);
  const seen: Record<string, number | undefined>[] = [];
  const share = async (traffic: BakeTraffic, window?: { from: number; to: number }) =>
    (await traffic.trafficShares(window))?.get('a:22');
  await balancer.withCanary(['a:22'], 0.1, async (traffic) => {
    w.advance(10_000);
    // Counted per host by 40 s: a 150 + 0 + 150 + 60 = 360, each other 150 + 200 + 150 + 180 = 680.
    seen.push({
      // A rate over [1m] read at 40 s: [-20 s, 40 s], the balancer as found before the first reading.
      minute: await share(traffic, { from: w.now() - 60_000, to: w.now() }),
      sinceBake: await share(traffic),
      bake: await share(traffic, { from: 30_000, to: 40_000 }),
      // 15 s → 35 s: a 150 → 330, b 250 → 590.
      drainToBake: await share(traffic, { from: 15_000, to: 35_000 }),
    });
  });
  expect(seen).toEqual([
    {
      minute: expect.closeTo(660 / 3600, 12),
      sinceBake: expect.closeTo(0.1, 12),
      bake: expect.closeTo(0.1, 12),
      drainToBake: expect.closeTo(180 / 1200, 12),
    },
  ]);
});

test('rules read at one instant share one read of the counters; none is read without canary-weight', async () => {
  const w = world(0.1);
  const balancer = await w.open();
  // Open, before the drain, before back in rotation.
  const canary = w.host(0);
  await balancer.drain(canary);
  w.advance(1000);
  await balancer.enable(canary);
  expect(w.reads()).toBe(3);
  await balancer.withCanary(['a:22'], 0.1, async (traffic) => {
    // Before the canary weight, at the bake's start.
    expect(w.reads()).toBe(5);
    w.advance(1000);
    const windows = [60_000, 20_000, 1000].map((ms) => ({ from: w.now() - ms, to: w.now() }));
    await Promise.all(windows.map((x) => traffic.trafficShares(x)));
    expect(w.reads()).toBe(6);
  });
  // The final measured split: one more; after the bake nothing is recorded any more.
  expect(w.reads()).toBe(7);
  await balancer.drain(w.host(1));
  expect(w.reads()).toBe(7);

  const plain = world(null);
  const b2 = await plain.open();
  await b2.drain(plain.host(0));
  await b2.enable(plain.host(0));
  expect(plain.reads()).toBe(0);
});
