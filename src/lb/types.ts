// The load-balancer provider contract: ssh-rollout and auto-revert talk to a `LoadBalancer`; haproxy
// (runtime API) and nginx (upstream file + reload) implement it. Everything pure lives here and in the
// providers' builders/parsers; only `exec` (one SSH session to lb-host) touches the balancer.
import { InputError, hostId, type HostSpec } from '../common/inputs.js';

export type LoadBalancerKind = 'haproxy' | 'nginx';

export interface LoadBalancerSettings {
  kind: LoadBalancerKind;
  host: HostSpec;
  backend: string;
  socket: string;
  upstreamFile: string;
  /** lb-servers: host id → the server named for it (other hosts are matched by address and port). */
  servers: NamedServers;
}

/** ssh-rollout's extra knobs. */
export interface RolloutLbSettings extends LoadBalancerSettings {
  /** Share (0 < x < 1) of requests for the first wave while it bakes; null = leave weights alone. */
  canaryShare: number | null;
  drain: boolean;
  drainTimeoutMs: number;
}

export type ServerState = 'ready' | 'drain' | 'maint';

/** One server of the backend/upstream as the balancer knows it. */
export interface LbServer {
  /** haproxy server name; for nginx the address as written (`10.0.0.1:8080`, `unix:/run/app.sock`). */
  name: string;
  /** Host name or IP; `unix:/path` for a Unix-socket server (then `port` is 0). */
  address: string;
  port: number;
  weight: number;
  state: ServerState;
  /** The weight the balancer's configuration gives (haproxy srv_iweight), when known. */
  configWeight?: number;
}

/** A snapshot of the share of requests each host gets (percent of the backend's total weight in rotation). */
export interface TrafficSplit {
  label: string;
  /** host id → percent (0–100, one decimal). */
  share: Record<string, number>;
}

/**
 * One reading of the requests each matched host has been sent. Only the difference between two readings
 * means anything (haproxy's counters start at 0 whenever haproxy starts): see sharesBetween.
 */
export interface RequestCounts {
  /**
   * true: measured, haproxy's cumulative per-server HTTP request counter (`req_tot`) summed per host.
   * false: configured, NOT measured: nginx OSS keeps no per-server counters, so `byHost` holds the
   * weights of the host's servers in rotation (0 when `down`), the split nginx is told to make.
   */
  measured: boolean;
  /** host id (the keys of TrafficSplit.share) → requests so far, or its weight in rotation when not measured. */
  byHost: Record<string, number>;
}

/** Each host's fraction of the requests between two readings. */
export interface TrafficShares {
  /** As the readings': false means the fractions are the configured weights' shares, not traffic. */
  measured: boolean;
  /** Requests between the two readings (measured), or the total weight in rotation (configured). */
  total: number;
  /** host id → fraction 0..1 of `total`; the fractions sum to 1. */
  share: Record<string, number>;
}

/** Runs one command on lb-host (`sh -c` semantics). */
export type LbExec = (command: string) => Promise<{ code: number; stdout: string; stderr: string }>;

export interface LoadBalancer {
  readonly kind: LoadBalancerKind;
  /**
   * Reads the backend, matches every host to its one server (matchServers) and captures the original
   * weights and states. Throws when the backend is unknown or the mapping is not one server per host
   * and one host per server; changes nothing.
   */
  inspect(hosts: HostSpec[], named?: NamedServers): Promise<void>;
  /** The server matched to a host, as inspect captured it (its state before this run changed anything). */
  serverOf(host: string): LbServer;
  /** Servers of the backend in rotation now (as captured, with our changes), leaving out the servers of `hosts`. */
  inRotation(hosts?: readonly string[]): number;
  /** Out of rotation; resolves when the host's servers have no session left or after `timeoutMs` (with `left` > 0). */
  drain(host: string, timeoutMs: number): Promise<{ left: number }>;
  /** Back in rotation with its original weight (or the canary weight while a canary is set). */
  enable(host: string): Promise<void>;
  /** Weights so `hosts` together get `share` of requests; returns the split set. */
  setCanary(hosts: string[], share: number): Promise<TrafficSplit>;
  /** Original weights back (states untouched). */
  endCanary(): Promise<void>;
  /** Original weights and states of every matched server, but the servers of `keepOut` stay out of rotation. */
  restore(keepOut?: readonly string[]): Promise<void>;
  /**
   * No capture needed (auto-revert after a rollout that died): the servers of `ready` in rotation with
   * their configured weight (haproxy: the config file's weight; nginx, where it is unknown, the default
   * weight 1), the servers of `out` out of rotation; the others as they are.
   */
  settle(ready: readonly string[], out: readonly string[]): Promise<void>;
  /** The split the balancer's current weights give (servers out of rotation, and hosts in `out`, count 0). */
  split(label: string, out?: string[]): TrafficSplit;
  /**
   * Requests each matched host has been sent so far, for sharesBetween over a time window. haproxy:
   * its per-server `req_tot` summed per host (measured: true; throws when the backend is not `mode http`,
   * where haproxy counts connections only). nginx OSS has no counters: the weights of the servers in
   * rotation (measured: false), configured, not measured.
   */
  requestCounts(): Promise<RequestCounts>;
}

export class LoadBalancerError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LoadBalancerError';
  }
}

/** Backend/upstream and server names: no whitespace, quotes, slashes or shell metacharacters. */
export const LB_NAME = /^[A-Za-z0-9_.:-]{1,128}$/;

export function checkName(what: string, name: string): string {
  if (!LB_NAME.test(name)) throw new LoadBalancerError(`${what} '${name}' is not a valid name`);
  return name;
}

/** A host (as hostId names it) → the server lb-servers names for it. */
export type NamedServers = ReadonlyMap<string, string>;

const describe = (s: LbServer) =>
  s.port ? `${s.name} (${s.address}:${s.port})` : s.name === s.address ? s.name : `${s.name} (${s.address})`;

/**
 * Hosts → servers, one server per host and one host per server, so that taking a host out of rotation
 * takes out exactly its own server: users reach only healthy hosts. A host lb-servers names a server for
 * gets that server. Any other host gets the server whose address (or haproxy name) is the host's name;
 * where several share that address (several apps on one machine, one per port), the one whose port is the
 * host line's port. A host with no server, with several, or sharing one with another host is an input
 * error naming every such host, before anything changes.
 */
export function matchServers(
  hosts: HostSpec[],
  servers: LbServer[],
  backend: string,
  named: NamedServers = new Map(),
): Map<string, LbServer> {
  const out = new Map<string, LbServer>();
  const problems: string[] = [];
  const ids = new Set(hosts.map(hostId));
  for (const id of named.keys())
    if (!ids.has(id)) problems.push(`${id} is named in lb-servers but is not one of the hosts`);
  for (const h of hosts) {
    const id = hostId(h);
    const wanted = named.get(id);
    if (wanted !== undefined) {
      const s = servers.find((x) => x.name === wanted);
      if (s) out.set(id, s);
      else problems.push(`${id}: '${backend}' has no server ${wanted}`);
      continue;
    }
    const byAddress = servers.filter((s) => s.address === h.host || s.name === h.host);
    const mine = byAddress.length > 1 ? byAddress.filter((s) => s.port === h.port) : byAddress;
    if (mine.length === 1) out.set(id, mine[0]);
    else if (byAddress.length === 0) problems.push(`${id}: no server of '${backend}' has the address ${h.host}`);
    else
      problems.push(
        `${id}: ${byAddress.length} servers of '${backend}' have the address ${h.host} ` +
          `(${byAddress.map(describe).join(', ')}) and ${mine.length === 0 ? 'none has' : 'several have'} ` +
          `port ${h.port}`,
      );
  }
  const owners = new Map<string, string[]>();
  for (const [id, s] of out) owners.set(s.name, [...(owners.get(s.name) ?? []), id]);
  for (const [name, hs] of owners)
    if (hs.length > 1) problems.push(`${hs.join(' and ')} are all matched to server ${name}: one host per server`);
  if (problems.length > 0) {
    const known = servers.map(describe).join(', ') || 'none';
    throw new InputError(
      'lb-servers',
      `cannot match the hosts to the servers of '${backend}' one to one: ${problems.join('; ')}. Servers: ` +
        `${known}. Name each host's server in lb-servers (\`host[:port]=server\`, one a line); nothing was changed`,
    );
  }
  return out;
}

/**
 * Each host's app port for `{port}` in health-url: its server's port. A Unix-socket server has none: an
 * input error naming the hosts, before anything changes.
 */
export function appPorts(lb: Pick<LoadBalancer, 'serverOf'>, hosts: HostSpec[]): Map<string, number> {
  const out = new Map<string, number>();
  const none: string[] = [];
  for (const h of hosts) {
    const s = lb.serverOf(hostId(h));
    if (s.port > 0) out.set(hostId(h), s.port);
    else none.push(`${hostId(h)} (${s.name})`);
  }
  if (none.length > 0)
    throw new InputError(
      'health-url',
      `uses {port}, but the balancer server of ${none.join(', ')} has no port (a Unix socket): check those ` +
        `hosts with health-command`,
    );
  return out;
}

/** Servers in rotation (ready, weight above 0), leaving out those in `except`. */
export function countInRotation(servers: Iterable<LbServer>, except: ReadonlySet<string>): number {
  let n = 0;
  for (const s of servers) if (s.state === 'ready' && s.weight > 0 && !except.has(s.name)) n++;
  return n;
}

/**
 * Integer weights giving `canary` servers together `share` of requests: the others keep their relative
 * weights, scaled so the largest is `max` (haproxy takes 0–256), each canary server gets an equal part.
 */
export function canaryWeights(servers: LbServer[], canary: Set<string>, share: number, max = 256): Map<string, number> {
  if (!(share > 0 && share < 1)) throw new LoadBalancerError(`canary share must be between 0 and 1, got ${share}`);
  const rest = servers.filter((s) => !canary.has(s.name));
  const mine = servers.filter((s) => canary.has(s.name));
  const out = new Map<string, number>();
  const biggest = Math.max(1, ...rest.map((s) => s.weight));
  let restTotal = 0;
  for (const s of rest) {
    const w = s.weight === 0 ? 0 : Math.max(1, Math.round((s.weight / biggest) * max));
    out.set(s.name, w);
    restTotal += w;
  }
  const total = mine.length === 0 ? 0 : (share * restTotal) / (1 - share);
  const each = mine.length === 0 ? 0 : Math.min(max, Math.max(1, Math.round(total / mine.length)));
  for (const s of mine) out.set(s.name, each);
  return out;
}

/** Percent of requests per host from per-server weights (servers not `ready` get none). */
export function computeSplit(
  label: string,
  byHost: ReadonlyMap<string, LbServer>,
  weight: (s: LbServer) => number,
): TrafficSplit {
  return splitOf(
    label,
    perHost(byHost, (s) => (s.state === 'ready' ? weight(s) : 0)),
  );
}

/** A split from per-host amounts (weights, requests, fractions): each host's percent of their total, one decimal. */
export function splitOf(label: string, amounts: Record<string, number>): TrafficSplit {
  const total = Object.values(amounts).reduce((a, b) => a + b, 0);
  const share: Record<string, number> = {};
  for (const [host, n] of Object.entries(amounts)) share[host] = total === 0 ? 0 : Math.round((n / total) * 1000) / 10;
  return { label, share };
}

/** Polls how much is still in flight on a drained host until none is, or the timeout passes. */
export async function waitDrained(
  inFlight: () => Promise<number>,
  timeoutMs: number,
  clock: { now: () => number; sleep: (ms: number) => Promise<void>; pollMs: number },
): Promise<{ left: number }> {
  const deadline = clock.now() + timeoutMs;
  for (;;) {
    const left = await inFlight();
    if (left === 0 || clock.now() >= deadline) return { left };
    await clock.sleep(Math.min(clock.pollMs, Math.max(1, deadline - clock.now())));
  }
}

/** The split as the balancer is now, counting the hosts in `out` as out of rotation. */
export function currentSplit(
  label: string,
  byHost: ReadonlyMap<string, LbServer>,
  current: ReadonlyMap<string, LbServer>,
  out: readonly string[],
): TrafficSplit {
  const view = new Map(
    [...byHost].map(([h, s]) => [
      h,
      { ...current.get(s.name)!, ...(out.includes(h) ? { state: 'drain' as const } : {}) },
    ]),
  );
  return computeSplit(label, view, (s) => s.weight);
}

/** Per host, `value` of its server (host ids as `split()` gives them). */
export function perHost(byHost: ReadonlyMap<string, LbServer>, value: (s: LbServer) => number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [host, server] of byHost) out[host] = value(server);
  return out;
}

/**
 * Each host's share of the requests between two readings of requestCounts(): the counters' growth over
 * the total growth. Configured readings (nginx) have no growth: the shares are `after`'s weights'.
 * The hosts are `after`'s. Null when the window cannot be split: no request was counted in it (or every
 * weight is 0), or a counter went backwards (haproxy restarted or reloaded in between, which zeroes it).
 */
export function sharesBetween(before: RequestCounts, after: RequestCounts): TrafficShares | null {
  if (before.measured !== after.measured)
    throw new LoadBalancerError('cannot take shares between a measured and a configured reading');
  const grown: Record<string, number> = {};
  let total = 0;
  for (const [host, n] of Object.entries(after.byHost)) {
    const d = after.measured ? n - (before.byHost[host] ?? 0) : n;
    if (d < 0) return null;
    grown[host] = d;
    total += d;
  }
  if (total === 0) return null;
  const share: Record<string, number> = {};
  for (const [host, d] of Object.entries(grown)) share[host] = d / total;
  return { measured: after.measured, total, share };
}
