// The load-balancer provider contract: ssh-rollout and auto-revert talk to a `LoadBalancer`; haproxy
// (runtime API) and nginx (upstream file + reload) implement it. Everything pure lives here and in the
// providers' builders/parsers; only `exec` (one SSH session to lb-host) touches the balancer.
import { hostId, type HostSpec } from '../common/inputs.js';

export type LoadBalancerKind = 'haproxy' | 'nginx';

export interface LoadBalancerSettings {
  kind: LoadBalancerKind;
  host: HostSpec;
  backend: string;
  socket: string;
  upstreamFile: string;
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
  /** haproxy server name; for nginx the `address:port` as written. */
  name: string;
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
   * Reads the backend, matches every host to its server(s) and captures the original weights and states.
   * Throws LoadBalancerError when the backend or a host is unknown; changes nothing.
   */
  inspect(hosts: HostSpec[]): Promise<void>;
  /** Out of rotation; resolves when the host's servers have no session left or after `timeoutMs` (with `left` > 0). */
  drain(host: string, timeoutMs: number): Promise<{ left: number }>;
  /** Back in rotation with its original weight (or the canary weight while a canary is set). */
  enable(host: string): Promise<void>;
  /** Weights so `hosts` together get `share` of requests; returns the split set. */
  setCanary(hosts: string[], share: number): Promise<TrafficSplit>;
  /** Original weights back (states untouched). */
  endCanary(): Promise<void>;
  /** Original weights and states of every matched server. */
  restore(): Promise<void>;
  /**
   * No capture needed (auto-revert after a rollout that died): every matched server ready, with its
   * configured weight (haproxy: the config file's weight) or, where unknown (nginx), the default weight 1.
   */
  reset(): Promise<void>;
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

/**
 * Hosts → servers. A host's servers are those whose address (or server name) is the host's name as the
 * `hosts` input gives it; a host may own several servers (several app processes), and a server belongs
 * to at most one host. A host without a server is an error naming every such host.
 */
export function matchServers(hosts: HostSpec[], servers: LbServer[], backend: string): Map<string, LbServer[]> {
  const out = new Map<string, LbServer[]>();
  const missing: string[] = [];
  for (const h of hosts) {
    const mine = servers.filter((s) => s.address === h.host || s.name === h.host);
    if (mine.length === 0) missing.push(hostId(h));
    out.set(hostId(h), mine);
  }
  if (missing.length > 0) {
    const known = servers.map((s) => `${s.name} (${s.address}:${s.port})`).join(', ') || 'none';
    throw new LoadBalancerError(`the balancer does not know ${missing.join(', ')} in '${backend}' (servers: ${known}); nothing was changed`);
  }
  return out;
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
export function computeSplit(label: string, byHost: Map<string, LbServer[]>, weight: (s: LbServer) => number): TrafficSplit {
  return splitOf(label, sumByHost(byHost, (s) => (s.state === 'ready' ? weight(s) : 0)));
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
export function currentSplit(label: string, byHost: Map<string, LbServer[]>, current: Map<string, LbServer>, out: string[]): TrafficSplit {
  const view = new Map([...byHost].map(([h, ss]) => [h, ss.map((s) => ({ ...current.get(s.name)!, ...(out.includes(h) ? { state: 'drain' as const } : {}) }))]));
  return computeSplit(label, view, (s) => s.weight);
}

/** Per host, the sum of `value` over its servers (host ids as `split()` gives them). */
export function sumByHost(byHost: Map<string, LbServer[]>, value: (s: LbServer) => number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [host, servers] of byHost) out[host] = servers.reduce((sum, s) => sum + value(s), 0);
  return out;
}

/**
 * Each host's share of the requests between two readings of requestCounts(): the counters' growth over
 * the total growth. Configured readings (nginx) have no growth: the shares are `after`'s weights'.
 * The hosts are `after`'s. Null when the window cannot be split: no request was counted in it (or every
 * weight is 0), or a counter went backwards (haproxy restarted or reloaded in between, which zeroes it).
 */
export function sharesBetween(before: RequestCounts, after: RequestCounts): TrafficShares | null {
  if (before.measured !== after.measured) throw new LoadBalancerError('cannot take shares between a measured and a configured reading');
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
