// The weight and state bookkeeping both providers share: the servers as inspect captured them, what
// fivestep has set since, and the canary weights while a canary is set. A provider (haproxy.ts, nginx.ts)
// supplies only how the balancer is read, changed and watched: a BalancerDriver.
import type { HostSpec } from '../common/inputs.js';
import { Semaphore, sleep as realSleep } from '../common/concurrency.js';
import {
  LoadBalancerError,
  canaryWeights,
  computeSplit,
  countInRotation,
  currentSplit,
  matchServers,
  waitDrained,
  type LbServer,
  type LoadBalancer,
  type LoadBalancerKind,
  type NamedServers,
  type RequestCounts,
  type ServerState,
} from './types.js';

/** What one change sets on one server: its weight, its state, or both. */
export interface ServerChange {
  name: string;
  weight?: number;
  state?: ServerState;
}

/** What differs between balancers: how their servers are read, changed and watched. */
export interface BalancerDriver {
  kind: LoadBalancerKind;
  /** The backend (haproxy) or upstream (nginx) the hosts' servers are in. */
  backend: string;
  /** The backend as messages name it: `'app'`, `upstream 'app'`. */
  backendLabel: string;
  /** The largest weight a canary split may give (haproxy takes 0–256). */
  maxWeight: number;
  /** Every server of the backend; throws when there is none. */
  readServers(): Promise<LbServer[]>;
  /** What inspect reads once the hosts are matched to servers (nginx: its master process). */
  afterMatch?(): Promise<void>;
  /** Makes `changes` on the balancer; `next` is every server as it will then be. */
  apply(changes: ServerChange[], next: ReadonlyMap<string, LbServer>): Promise<void>;
  /** Asked just before `server` is drained: how much is still in flight on it, to poll until 0. */
  inFlight(server: LbServer): Promise<() => Promise<number>>;
  requestCounts(byHost: ReadonlyMap<string, LbServer>, current: ReadonlyMap<string, LbServer>): Promise<RequestCounts>;
}

export interface BalancerClock {
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
  /** Poll interval while draining. */
  pollMs?: number;
}

/** A LoadBalancer over `driver`: one change at a time, each remembered once the balancer took it. */
export function createTrackedBalancer(driver: BalancerDriver, o: BalancerClock = {}): LoadBalancer {
  const clock = { now: o.now ?? Date.now, sleep: o.sleep ?? realSleep, pollMs: o.pollMs ?? 100 };
  // One change at a time: each builds on what the last left (nginx rewrites one whole file).
  const mutex = new Semaphore(1);
  let byHost = new Map<string, LbServer>();
  /** As captured before any change. */
  let original = new Map<string, LbServer>();
  /** What the balancer has now (as captured, with our changes): for the split and the rotation count. */
  let current = new Map<string, LbServer>();
  let canary: Map<string, number> | null = null;

  const serverOf = (host: string): LbServer => {
    const s = byHost.get(host);
    if (!s) throw new LoadBalancerError(`${host} is not matched to a server of ${driver.backendLabel}`);
    return s;
  };
  /** The weight a server in rotation has: its canary weight while a canary is set, else its original one. */
  const weightNow = (s: LbServer) => canary?.get(s.name) ?? original.get(s.name)!.weight;
  const change = async (changes: ServerChange[]) => {
    if (changes.length === 0) return;
    const next = new Map([...current].map(([name, s]) => [name, { ...s }]));
    for (const c of changes) {
      const s = next.get(c.name)!;
      if (c.weight !== undefined) s.weight = c.weight;
      if (c.state !== undefined) s.state = c.state;
    }
    await driver.apply(changes, next);
    current = next;
  };

  return {
    kind: driver.kind,
    async inspect(hosts: HostSpec[], named?: NamedServers) {
      const servers = await driver.readServers();
      byHost = matchServers(hosts, servers, driver.backend, named);
      await driver.afterMatch?.();
      original = new Map(servers.map((s) => [s.name, { ...s }]));
      current = new Map(servers.map((s) => [s.name, { ...s }]));
    },
    serverOf: (host) => ({ ...serverOf(host) }),
    inRotation: (hosts = []) => countInRotation(current.values(), new Set(hosts.map((h) => serverOf(h).name))),
    drain: (host, timeoutMs) =>
      mutex
        .run(async () => {
          const server = serverOf(host);
          const inFlight = await driver.inFlight(server);
          await change([{ name: server.name, state: 'drain' }]);
          return inFlight;
        })
        .then((inFlight) => waitDrained(inFlight, timeoutMs, clock)),
    enable: (host) =>
      mutex.run(async () => {
        const server = serverOf(host);
        await change([{ name: server.name, weight: weightNow(server), state: 'ready' }]);
      }),
    setCanary: (hosts, share) =>
      mutex.run(async () => {
        const names = new Set(hosts.map((h) => serverOf(h).name));
        const matched = [...byHost.values()].map((s) => original.get(s.name)!);
        canary = canaryWeights(matched, names, share, driver.maxWeight);
        await change([...canary].map(([name, weight]) => ({ name, weight })));
        return computeSplit(`canary ${Math.round(share * 1000) / 10}%`, byHost, (s) => current.get(s.name)!.weight);
      }),
    endCanary: () =>
      mutex.run(async () => {
        if (!canary) return;
        const names = [...canary.keys()];
        canary = null;
        await change(names.map((name) => ({ name, weight: original.get(name)!.weight })));
      }),
    restore: (keepOut = []) =>
      mutex.run(async () => {
        canary = null;
        const out = new Set(keepOut.map((h) => serverOf(h).name));
        await change(
          [...byHost.values()].map((s) => {
            const was = original.get(s.name)!;
            const state: ServerState = out.has(s.name) && was.state === 'ready' ? 'maint' : was.state;
            return { name: s.name, weight: was.weight, state };
          }),
        );
      }),
    settle: (ready, out) =>
      mutex.run(async () => {
        await change([
          ...ready.map(serverOf).map((s) => ({ name: s.name, weight: s.configWeight ?? 1, state: 'ready' as const })),
          ...out.map((h) => {
            const s = serverOf(h);
            return { name: s.name, weight: current.get(s.name)!.weight, state: 'maint' as const };
          }),
        ]);
      }),
    split: (label, out = []) => currentSplit(label, byHost, current, out),
    // A read: no mutex, so a judge can sample while a drain waits.
    requestCounts: () => driver.requestCounts(byHost, current),
  };
}
