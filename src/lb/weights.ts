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
  type TrafficSplit,
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
  return new TrackedBalancer(driver, o);
}

class TrackedBalancer implements LoadBalancer {
  readonly kind: LoadBalancerKind;
  private readonly clock: Required<BalancerClock>;
  // One change at a time: each builds on what the last left (nginx rewrites one whole file).
  private readonly mutex = new Semaphore(1);
  private byHost = new Map<string, LbServer>();
  /** As captured before any change. */
  private original = new Map<string, LbServer>();
  /** What the balancer has now (as captured, with our changes): for the split and the rotation count. */
  private current = new Map<string, LbServer>();
  private canary: Map<string, number> | null = null;

  constructor(
    private readonly driver: BalancerDriver,
    o: BalancerClock,
  ) {
    this.kind = driver.kind;
    this.clock = { now: o.now ?? Date.now, sleep: o.sleep ?? realSleep, pollMs: o.pollMs ?? 100 };
  }

  async inspect(hosts: HostSpec[], named?: NamedServers): Promise<void> {
    const servers = await this.driver.readServers();
    this.byHost = matchServers(hosts, servers, this.driver.backend, named);
    await this.driver.afterMatch?.();
    this.original = new Map(servers.map((s) => [s.name, { ...s }]));
    this.current = new Map(servers.map((s) => [s.name, { ...s }]));
  }

  serverOf(host: string): LbServer {
    return { ...this.matched(host) };
  }

  inRotation(hosts: readonly string[] = []): number {
    return countInRotation(this.current.values(), new Set(hosts.map((h) => this.matched(h).name)));
  }

  drain(host: string, timeoutMs: number): Promise<{ left: number }> {
    return this.mutex
      .run(async () => {
        const server = this.matched(host);
        const inFlight = await this.driver.inFlight(server);
        await this.change([{ name: server.name, state: 'drain' }]);
        return inFlight;
      })
      .then((inFlight) => waitDrained(inFlight, timeoutMs, this.clock));
  }

  enable(host: string): Promise<void> {
    return this.mutex.run(async () => {
      const server = this.matched(host);
      await this.change([{ name: server.name, weight: this.weightNow(server), state: 'ready' }]);
    });
  }

  setCanary(hosts: string[], share: number): Promise<TrafficSplit> {
    return this.mutex.run(async () => {
      const names = new Set(hosts.map((h) => this.matched(h).name));
      const matched = [...this.byHost.values()].map((s) => this.original.get(s.name)!);
      this.canary = canaryWeights(matched, names, share, this.driver.maxWeight);
      await this.change([...this.canary].map(([name, weight]) => ({ name, weight })));
      const label = `canary ${Math.round(share * 1000) / 10}%`;
      return computeSplit(label, this.byHost, (s) => this.current.get(s.name)!.weight);
    });
  }

  endCanary(): Promise<void> {
    return this.mutex.run(async () => {
      if (!this.canary) return;
      const names = [...this.canary.keys()];
      this.canary = null;
      await this.change(names.map((name) => ({ name, weight: this.original.get(name)!.weight })));
    });
  }

  restore(keepOut: readonly string[] = []): Promise<void> {
    return this.mutex.run(async () => {
      this.canary = null;
      const out = new Set(keepOut.map((h) => this.matched(h).name));
      await this.change(
        [...this.byHost.values()].map((s) => {
          const was = this.original.get(s.name)!;
          const state: ServerState = out.has(s.name) && was.state === 'ready' ? 'maint' : was.state;
          return { name: s.name, weight: was.weight, state };
        }),
      );
    });
  }

  settle(ready: readonly string[], out: readonly string[]): Promise<void> {
    return this.mutex.run(async () => {
      await this.change([
        ...ready.map((h) => {
          const s = this.matched(h);
          return { name: s.name, weight: s.configWeight ?? 1, state: 'ready' as const };
        }),
        ...out.map((h) => {
          const s = this.matched(h);
          return { name: s.name, weight: this.current.get(s.name)!.weight, state: 'maint' as const };
        }),
      ]);
    });
  }

  split(label: string, out: string[] = []): TrafficSplit {
    return currentSplit(label, this.byHost, this.current, out);
  }

  // A read: no mutex, so a judge can sample while a drain waits.
  requestCounts(): Promise<RequestCounts> {
    return this.driver.requestCounts(this.byHost, this.current);
  }

  /** The server inspect matched to `host` (the captured one itself: serverOf hands out copies). */
  private matched(host: string): LbServer {
    const s = this.byHost.get(host);
    if (!s) throw new LoadBalancerError(`${host} is not matched to a server of ${this.driver.backendLabel}`);
    return s;
  }

  /** The weight a server in rotation has: its canary weight while a canary is set, else its original one. */
  private weightNow(s: LbServer): number {
    return this.canary?.get(s.name) ?? this.original.get(s.name)!.weight;
  }

  /** Makes `changes` on the balancer and remembers them once it took them. */
  private async change(changes: ServerChange[]): Promise<void> {
    if (changes.length === 0) return;
    const next = new Map([...this.current].map(([name, s]) => [name, { ...s }]));
    for (const c of changes) {
      const s = next.get(c.name)!;
      if (c.weight !== undefined) s.weight = c.weight;
      if (c.state !== undefined) s.state = c.state;
    }
    await this.driver.apply(changes, next);
    this.current = next;
  }
}
