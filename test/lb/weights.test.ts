// The bookkeeping haproxy and nginx share, over a driver that records what it is asked: what each
// operation changes, what is remembered (and what is not, when the balancer refuses), and the split.
import { hostId, type HostSpec } from '../../src/common/inputs.js';
import type { LbServer, ServerState } from '../../src/lb/types.js';
import { createTrackedBalancer, type BalancerDriver, type ServerChange } from '../../src/lb/weights.js';

const host = (name: string): HostSpec => ({ user: 'deploy', host: name, port: 22 });
const HOSTS = ['web1', 'web2', 'web3'].map(host);
function server(
  name: string,
  address: string,
  weight: number,
  state: ServerState = 'ready',
  configWeight?: number,
): LbServer {
  return { name, address, port: 8080, weight, state, ...(configWeight !== undefined ? { configWeight } : {}) };
}
const FLEET = [server('s1', 'web1', 10), server('s2', 'web2', 10), server('s3', 'web3', 20)];

/** A balancer with web1–web3 and one server no host is matched to; `refuse` makes the next apply throw. */
function world(o: { servers?: LbServer[] } = {}) {
  const applied: ServerChange[][] = [];
  let refuse = false;
  let inFlight = 0;
  const driver: BalancerDriver = {
    kind: 'haproxy',
    backend: 'app',
    backendLabel: "'app'",
    maxWeight: 256,
    readServers: async () => o.servers ?? [...FLEET, server('other', 'db1', 5)],
    async apply(changes) {
      if (refuse) {
        refuse = false;
        throw new Error('refused');
      }
      applied.push(changes);
    },
    inFlight: async () => async () => inFlight--,
    requestCounts: async (byHost, current) => ({
      measured: false,
      byHost: Object.fromEntries([...byHost].map(([h, s]) => [h, current.get(s.name)!.weight])),
    }),
  };
  let now = 0;
  const lb = createTrackedBalancer(driver, { now: () => now, sleep: async (ms) => void (now += ms), pollMs: 10 });
  return {
    lb,
    applied,
    refuseNext: () => (refuse = true),
    setInFlight: (n: number) => (inFlight = n),
  };
}

test('inspect matches hosts to servers and changes nothing', async () => {
  const w = world();
  await w.lb.inspect(HOSTS);
  expect(w.lb.serverOf(hostId(HOSTS[0]))).toMatchObject({ name: 's1', weight: 10 });
  expect(w.lb.inRotation()).toBe(4);
  expect(w.applied).toEqual([]);
  expect(() => w.lb.serverOf('db9:22')).toThrow("db9:22 is not matched to a server of 'app'");
});

test('drain: the state only, then polls what is in flight until none is', async () => {
  const w = world();
  await w.lb.inspect(HOSTS);
  w.setInFlight(3);
  expect(await w.lb.drain('web1:22', 1000)).toEqual({ left: 0 });
  expect(w.applied).toEqual([[{ name: 's1', state: 'drain' }]]);
  expect(w.lb.inRotation()).toBe(3);
  expect(w.lb.split('now').share).toEqual({ 'web1:22': 0, 'web2:22': 33.3, 'web3:22': 66.7 });
});

test('a canary: its weights, enable during it gives the canary weight, endCanary the originals back', async () => {
  const w = world();
  await w.lb.inspect(HOSTS);
  const split = await w.lb.setCanary(['web1:22'], 0.1);
  expect(w.applied[0]).toEqual([
    { name: 's2', weight: 128 },
    { name: 's3', weight: 256 },
    { name: 's1', weight: 43 },
  ]);
  expect(split.share['web1:22']).toBeCloseTo(10, 0);
  await w.lb.drain('web1:22', 0);
  await w.lb.enable('web1:22');
  expect(w.applied[2]).toEqual([{ name: 's1', weight: 43, state: 'ready' }]);
  await w.lb.endCanary();
  expect(w.applied[3]).toEqual([
    { name: 's2', weight: 10 },
    { name: 's3', weight: 20 },
    { name: 's1', weight: 10 },
  ]);
  await w.lb.endCanary();
  expect(w.applied).toHaveLength(4);
});

test('restore: every matched server as captured; a kept-out host to maint unless it was out already', async () => {
  const w = world({ servers: [FLEET[0], server('s2', 'web2', 10, 'drain'), FLEET[2]] });
  await w.lb.inspect(HOSTS);
  await w.lb.setCanary(['web1:22'], 0.1);
  await w.lb.restore(['web1:22', 'web2:22']);
  expect(w.applied[1]).toEqual([
    { name: 's1', weight: 10, state: 'maint' },
    { name: 's2', weight: 10, state: 'drain' },
    { name: 's3', weight: 20, state: 'ready' },
  ]);
});

test('settle: ready hosts at their configured weight (1 when unknown), out hosts to maint', async () => {
  const w = world({ servers: [server('s1', 'web1', 0, 'maint', 30), FLEET[1], FLEET[2]] });
  await w.lb.inspect(HOSTS);
  await w.lb.settle(['web1:22'], ['web3:22']);
  expect(w.applied).toEqual([
    [
      { name: 's1', weight: 30, state: 'ready' },
      { name: 's3', weight: 20, state: 'maint' },
    ],
  ]);
  await w.lb.settle([], []);
  expect(w.applied).toHaveLength(1);
});

test('a change the balancer refuses is not remembered', async () => {
  const w = world();
  await w.lb.inspect(HOSTS);
  w.refuseNext();
  await expect(w.lb.drain('web1:22', 0)).rejects.toThrow('refused');
  expect(w.lb.inRotation()).toBe(4);
  expect((await w.lb.requestCounts()).byHost).toEqual({ 'web1:22': 10, 'web2:22': 10, 'web3:22': 20 });
});
