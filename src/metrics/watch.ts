// The watch loop: sample every rule at each interval, feed the pure core, stop early on a hard failure,
// then let the canary judge compare the canaries with their baseline. One implementation for
// metric-watch and ssh-rollout; it returns its result and sends nothing (the action sends the alerts).
import type { Logger } from '../common/logger.js';
import { harmfulDirection, judge } from './judge.js';
import { advanceRule, describeComparison, failRule, fmt, initialRuleState, overallVerdict, ruleOutcome, type RuleState } from './rules.js';
import { createSource } from './sources/index.js';
import { redactUrl } from './sources/http.js';
import { QueryError, type MetricSource, type Reading, type Readings } from './sources/types.js';
import { mean, median } from './stats.js';
import type { Comparison, Observation, Rule, RuleReport, WatchResult, WatchSettings } from './types.js';
import { errorMessage } from '../common/errors.js';

/** A host's readings before the watch, oldest first. */
export type PriorReadings = Map<string, { t: number; value: number }[]>;

export interface WatchOptions {
  logger: Logger;
  /** Hosts running the new release; overrides the `canary-hosts` setting (ssh-rollout: the wave's hosts). */
  canaryHosts?: string[];
  /** Hosts to read when the settings name none (ssh-rollout: every host of the rollout). */
  hosts?: string[];
  /** The baseline of `baseline: hosts`; default: the hosts that are not canaries. */
  baselineHosts?: string[];
  /**
   * Rule name → the canaries' own readings from before (ssh-rollout's last wave, which has no host left
   * on the previous release): they are the baseline, as `before:` would be, instead of other hosts.
   */
  priorReadings?: Map<string, PriorReadings>;
  /**
   * Each host's share (0..1) of the requests the load balancer has sent since the watch began (ssh-rollout
   * with canary-weight). `volume` rules are scaled by it, so a canary at 10% is not failed for earning a tenth.
   */
  trafficShares?: () => Promise<ReadonlyMap<string, number> | null>;
  /** Overrides the `duration` setting (ssh-rollout: the bake time). */
  durationMs?: number;
  /** Ends the watch at the next instant; the verdict is made from the samples so far. */
  signal?: AbortSignal;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** A ready source (tests); default: the provider the settings name. */
  source?: MetricSource;
}

const defaultSleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = () => {
      clearTimeout(timer);
      resolve();
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/** `web1`, `web1:9100`, `deploy@web1:22`, `[::1]:22` → the host name, for matching canaries to metric hosts. */
export function hostName(host: string): string {
  let h = host.trim().replace(/^[a-z]+:\/\//i, '');
  h = h.slice(h.lastIndexOf('@') + 1);
  const v6 = /^\[([^\]]+)\]/.exec(h);
  if (v6) return v6[1];
  return h.split(/[:/]/)[0];
}

/** A metric host is a canary when it equals a canary entry or has the same host name (ports may differ). */
export function matchHosts(all: readonly string[], wanted: readonly string[]): string[] {
  const exact = new Set(wanted);
  const names = new Set(wanted.map(hostName));
  return all.filter((h) => exact.has(h) || names.has(hostName(h)));
}

function usesHost(settings: WatchSettings, rule: Rule): boolean {
  return settings.url.includes('{host}') || rule.query.includes('{host}');
}

/** NaN and ±Inf are no data: they must never reach a bound or the judge. */
export function finiteReading(r: Reading | undefined): Reading {
  if (!r) return { value: null, reason: 'not read' };
  if (r.value === null || Number.isFinite(r.value)) return r;
  return { value: null, reason: `the reading is ${r.value} (not a number)` };
}

/** A volume reading at the host's measured share of requests, restated at an equal share (value / (share × hosts)). */
export function scaleByShare(value: number, share: number, hosts: number): number {
  return value / (share * hosts);
}

interface HostSets {
  all: string[];
  canary: string[];
  baseline: string[];
  judged: string[];
}

function resolveHosts(settings: WatchSettings, options: WatchOptions, logger: Logger, comparesHosts: boolean): HostSets {
  const canaryWanted = options.canaryHosts ?? settings.canaryHosts;
  const all = [...(settings.hosts.length > 0 ? settings.hosts : (options.hosts ?? []))];
  for (const c of canaryWanted) if (matchHosts(all, [c]).length === 0) all.push(c);
  const canary = matchHosts(all, canaryWanted);
  const baseline = options.baselineHosts ? matchHosts(all, options.baselineHosts) : all.filter((h) => !canary.includes(h));
  if (comparesHosts && canary.length === 0) throw new Error("baseline 'hosts' needs canary hosts (canary-hosts, or the wave's hosts in ssh-rollout)");
  if (comparesHosts && baseline.length === 0) {
    logger.warning('baseline hosts: every host is a canary, so relative bounds are skipped and only absolute bounds apply');
  }
  return { all, canary, baseline: comparesHosts ? baseline : [], judged: canary.length > 0 ? canary : all };
}

/** Per rule: what the canaries are compared with. */
interface RuleBaseline {
  /** before-style: each host's readings before the watch, and their median (the per-sample bound's base). */
  history?: PriorReadings;
  medians?: Map<string, number | null>;
}

function medians(history: PriorReadings): Map<string, number | null> {
  return new Map([...history].map(([h, xs]) => [h, xs.length ? median(xs.map((x) => x.value)) : null]));
}

/**
 * source: replay — what the settings leave unset comes from the recording: hosts and canary-hosts when
 * neither the settings nor the options name any, duration and interval when they are 0 (not given).
 */
function withRecorded(settings: WatchSettings, recorded: MetricSource['recorded'], options: WatchOptions): WatchSettings {
  if (!recorded) return settings;
  return {
    ...settings,
    hosts: settings.hosts.length > 0 || (options.hosts?.length ?? 0) > 0 ? settings.hosts : recorded.hosts,
    canaryHosts: settings.canaryHosts.length > 0 ? settings.canaryHosts : recorded.canaryHosts,
    durationMs: settings.durationMs || recorded.durationMs,
    intervalMs: settings.intervalMs || recorded.intervalMs,
  };
}

export async function runWatch(given: WatchSettings, options: WatchOptions): Promise<WatchResult> {
  const { logger, signal } = options;
  const source = options.source ?? createSource(given, options.now ?? Date.now);
  // A source with a clock of its own (replay) runs on it: sleeping only moves that clock on.
  const clock = source.clock;
  const now = options.now ?? (clock ? () => clock.now() : Date.now);
  const sleep = options.sleep ?? (clock ? (ms: number) => clock.sleep(ms) : defaultSleep);
  const settings = withRecorded(given, source.recorded, options);
  const durationMs = options.durationMs ?? settings.durationMs;
  // A rollout's last wave has no host left on the previous release: its own readings before are the baseline.
  const prior = options.priorReadings;
  const kind = prior ? 'before' : settings.baseline.kind;
  const hosts = resolveHosts(settings, options, logger, kind === 'hosts');
  const readFor = (rule: Rule) => (usesHost(settings, rule) ? [...new Set([...hosts.judged, ...hosts.baseline])] : []);

  const states = new Map<string, RuleState>(settings.rules.map((r) => [r.name, initialRuleState()]));
  const baselines = new Map<string, RuleBaseline>();
  const baselineSamples = new Map<string, Observation[]>(settings.rules.map((r) => [r.name, []]));
  const fail = (rule: Rule, err: unknown) => {
    logger.error(errorMessage(err));
    states.set(rule.name, failRule(states.get(rule.name)!, errorMessage(err)));
  };
  const t0 = now();
  logger.info(
    `Watching ${settings.rules.length} rule(s) on ${settings.source} ${redactUrl(settings.url)} for ${durationMs / 1000}s every ${settings.intervalMs / 1000}s` +
      (hosts.canary.length ? `; canaries: ${hosts.canary.join(', ')}` : '') +
      (kind === 'hosts' ? `; baseline hosts: ${hosts.baseline.join(', ') || 'none'}` : '') +
      (prior ? '; baseline: the same hosts before this wave' : ''),
  );
  await primeSource(source, settings, readFor, t0, signal, fail, logger);
  if (prior) {
    for (const rule of settings.rules) {
      const history = prior.get(rule.name);
      if (history) baselines.set(rule.name, { history, medians: medians(history) });
    }
  } else if (settings.baseline.kind === 'before') {
    await loadHistory(source, settings, settings.baseline.windowMs, readFor, t0, signal, states, baselines, fail, logger);
  }

  const baselineFor = (rule: Rule, host: string, readings: Readings): number | null | undefined => {
    if (kind === 'before') {
      if (!(rule.maxDrop || rule.maxRise || rule.compare)) return undefined;
      // A rollout's host without readings from before is not compared (it has no baseline of its own).
      if (prior && !baselines.get(rule.name)?.medians?.has(host)) return undefined;
      return baselines.get(rule.name)?.medians?.get(host) ?? null;
    }
    if (kind === 'hosts') {
      if (hosts.baseline.length === 0) return undefined;
      const values = hosts.baseline.map((h) => readings.get(h)?.value).filter((v): v is number => typeof v === 'number');
      return values.length ? mean(values) : null;
    }
    return undefined;
  };

  const ticks = Math.max(1, Math.floor(durationMs / settings.intervalMs));
  let endedEarly = '';
  let tick = 0;
  for (tick = 1; tick <= ticks; tick++) {
    const wait = t0 + tick * settings.intervalMs - now();
    if (wait > 0) await sleep(wait, signal);
    if (signal?.aborted) {
      endedEarly = 'aborted';
      tick--;
      break;
    }
    const at = now();
    const shares = options.trafficShares && settings.rules.some((r) => r.volume) ? await options.trafficShares().catch(() => null) : null;
    const active = settings.rules.filter((r) => !states.get(r.name)!.error);
    await Promise.all(
      active.map(async (rule) => {
        let readings: Readings;
        try {
          readings = await source.sample({ rule, hosts: readFor(rule), at, signal });
        } catch (err) {
          if (err instanceof QueryError) return fail(rule, err);
          readings = new Map((readFor(rule).length ? readFor(rule) : ['']).map((h) => [h, { value: null, reason: `source error: ${errorMessage(err)}` }]));
        }
        const judged = normalise(readings, rule.volume ? shares : null);
        const keys = usesHost(settings, rule) ? hosts.judged : [''];
        const observations: Observation[] = keys.map((host) => observe(at, host, judged.get(host), baselineFor(rule, host, judged)));
        if (kind === 'hosts' && usesHost(settings, rule)) {
          for (const h of hosts.baseline) baselineSamples.get(rule.name)!.push(observe(at, h, judged.get(h), undefined));
        }
        const next = advanceRule(rule, states.get(rule.name)!, observations);
        states.set(rule.name, next);
        logger.info(`[${tick}/${ticks}] ${rule.name}: ${tickLine(next.samples.slice(-observations.length))}`);
      }),
    );
    const hard = settings.rules.find((r) => states.get(r.name)!.hardFail || states.get(r.name)!.error);
    if (hard) {
      const st = states.get(hard.name)!;
      endedEarly = st.error ? `rule '${hard.name}' cannot be evaluated` : `rule '${hard.name}' failed: ${st.hardFail!.detail}`;
      logger.info(`Ending the watch early: ${endedEarly}`);
      break;
    }
  }

  const at = now();
  const reports = settings.rules.map((rule) => reportRule(rule, states.get(rule.name)!, kind, baselines.get(rule.name), baselineSamples.get(rule.name)!, at));
  const verdict = overallVerdict(reports);
  const notPassing = reports.filter((r) => r.verdict !== 'pass');
  for (const r of reports) {
    const cmp = r.comparison && !r.rule.compare && !r.comparison.insufficient ? ` [compared, not deciding: ${describeComparison(r.comparison)}]` : '';
    logger.info(`${r.verdict.toUpperCase()} ${r.name}: ${r.reason}${cmp}`);
  }
  logger.info(`Verdict: ${verdict}`);
  return {
    verdict,
    detail: notPassing.length === 0 ? `all ${reports.length} rule(s) passed` : notPassing.map((r) => `${r.name}: ${r.verdict}: ${r.reason}`).join('; '),
    breaches: reports.flatMap((r) => (r.breach ? [r.breach] : [])),
    rules: reports,
    endedEarly,
    startedAt: new Date(t0).toISOString(),
    endedAt: new Date(at).toISOString(),
    ticks: Math.min(tick, ticks),
    hosts: { canary: hosts.canary, baseline: hosts.baseline, all: hosts.all },
    alertWarnings: [],
    settings: {
      source: settings.source,
      url: redactUrl(settings.url),
      baseline: prior ? 'before:wave' : settings.baseline.kind === 'before' ? `before:${settings.baseline.windowMs / 1000}s` : settings.baseline.kind,
      durationMs,
      intervalMs: settings.intervalMs,
      failOn: settings.failOn,
      environment: settings.environment,
    },
  };
}

type Fail = (rule: Rule, err: unknown) => void;

/** Counter rates need a first scrape to measure against. */
async function primeSource(source: MetricSource, settings: WatchSettings, readFor: (r: Rule) => string[], at: number, signal: AbortSignal | undefined, fail: Fail, logger: Logger) {
  if (!source.prime) return;
  await Promise.all(
    settings.rules.map((rule) =>
      source.prime!({ rule, hosts: readFor(rule), at, signal }).catch((err) => {
        if (err instanceof QueryError) fail(rule, err);
        else logger.warning(`rule '${rule.name}': first scrape failed: ${errorMessage(err)}`);
      }),
    ),
  );
}

/** baseline before:<window>: each host's readings over the window (finite ones), and their median. */
async function loadHistory(
  source: MetricSource,
  settings: WatchSettings,
  windowMs: number,
  readFor: (r: Rule) => string[],
  t0: number,
  signal: AbortSignal | undefined,
  states: Map<string, RuleState>,
  baselines: Map<string, RuleBaseline>,
  fail: Fail,
  logger: Logger,
) {
  for (const rule of settings.rules) {
    if (!(rule.maxDrop || rule.maxRise || rule.compare) || states.get(rule.name)!.error) continue;
    if (!source.history) throw new Error(`source ${settings.source} keeps no history for baseline before:`);
    try {
      const raw = await source.history({ rule, hosts: readFor(rule), at: t0, start: t0 - windowMs, end: t0, stepMs: settings.intervalMs, signal });
      // The sources give values oldest first at the step; their instants are restated from the window's end.
      const history: PriorReadings = new Map(
        [...raw].map(([host, values]) => {
          const kept = values.filter(Number.isFinite);
          return [host, kept.map((value, i) => ({ t: t0 - (kept.length - i) * settings.intervalMs, value }))];
        }),
      );
      const m = medians(history);
      baselines.set(rule.name, { history, medians: m });
      const points = [...history.values()].reduce((n, xs) => n + xs.length, 0);
      logger.info(`rule '${rule.name}': baseline over the ${windowMs / 1000}s before: ${[...m].map(([h, v]) => `${h ? `${h} ` : ''}${fmt(v)}`).join(', ')} (median of ${points} points)`);
    } catch (err) {
      if (err instanceof QueryError) fail(rule, err);
      else {
        logger.warning(`rule '${rule.name}': baseline query failed: ${errorMessage(err)}`);
        baselines.set(rule.name, { history: new Map(), medians: new Map() });
      }
    }
  }
}

/** Non-finite readings become no data; volume readings are restated at an equal share of requests. */
/** A reading as the judge sees it: a volume reading restated at an equal share keeps what was read. */
type JudgedReading = Reading & { raw?: number; share?: number };

/** Non-finite readings become no data; volume readings are restated at an equal share of requests. */
function normalise(readings: Readings, shares: ReadonlyMap<string, number> | null): Map<string, JudgedReading> {
  const out = new Map<string, JudgedReading>();
  const count = shares ? [...shares.values()].filter((s) => s > 0).length : 0;
  for (const [host, r] of readings) {
    const f = finiteReading(r);
    const share = shares?.get(host) ?? shares?.get(hostName(host));
    if (f.value === null || !shares) out.set(host, f);
    else if (share !== undefined && share > 0) out.set(host, { value: scaleByShare(f.value, share, count), raw: f.value, share });
    // A host the balancer sent nothing yet has no share to restate its volume at.
    else out.set(host, { value: null, reason: `no request reached it at the load balancer yet (read ${fmt(f.value)})` });
  }
  return out;
}

function observe(t: number, host: string, r: JudgedReading | undefined, baseline: number | null | undefined): Observation {
  const f = r ?? { value: null, reason: 'not read' };
  return {
    t,
    host,
    value: f.value,
    ...(baseline !== undefined ? { baseline } : {}),
    ...(f.value === null ? { reason: f.reason } : {}),
    ...(f.raw !== undefined ? { raw: f.raw, share: f.share } : {}),
  };
}

function tickLine(samples: readonly (Observation & { state: string; check?: string; bound?: number })[]): string {
  return samples
    .map(
      (s) =>
        `${s.host ? `${s.host}=` : ''}${s.value === null ? `no data (${s.reason})` : fmt(s.value)}` +
        `${s.raw !== undefined ? ` (${fmt(s.raw)} at ${fmt((s.share ?? 0) * 100)}% of requests)` : ''}` +
        `${s.baseline !== undefined ? ` vs ${fmt(s.baseline)}` : ''}${s.state === 'breach' ? ` BREACH ${s.check} ${fmt(s.bound)}` : ''}`,
    )
    .join(', ');
}

/** Finite readings per host, in time order (appended, not copied per reading: linear in the readings). */
const byHost = (obs: readonly Observation[]) => {
  const out = new Map<string, number[]>();
  for (const o of obs) {
    if (o.value === null || !Number.isFinite(o.value)) continue;
    const xs = out.get(o.host);
    if (xs) xs.push(o.value);
    else out.set(o.host, [o.value]);
  }
  return out;
};

/** The judge's comparison for a rule, when it has a baseline to compare with. */
function compareRule(rule: Rule, state: RuleState, kind: string, baseline: RuleBaseline | undefined, baselineObs: readonly Observation[]): Comparison | undefined {
  const canary = byHost(state.samples);
  const common = { direction: harmfulDirection(rule), confidence: rule.confidence, canary };
  if (kind === 'hosts' && baselineObs.length > 0) return judge({ ...common, baseline: byHost(baselineObs), design: 'hosts' });
  if (kind === 'before' && baseline?.history) {
    const before = new Map([...baseline.history].map(([h, xs]) => [h, xs.map((x) => x.value)]));
    return judge({ ...common, baseline: before, design: 'before' });
  }
  return undefined;
}

function reportRule(rule: Rule, state: RuleState, kind: string, baseline: RuleBaseline | undefined, baselineObs: Observation[], at: number): RuleReport {
  const comparison = compareRule(rule, state, kind, baseline, baselineObs);
  const outcome = ruleOutcome(rule, state, comparison, at);
  return {
    name: rule.name,
    query: rule.query,
    verdict: outcome.verdict,
    reason: outcome.reason,
    rule,
    ...(baseline?.medians ? { baselineValues: Object.fromEntries(baseline.medians) } : {}),
    ...(comparison ? { comparison } : {}),
    ...(outcome.breach ? { breach: outcome.breach } : {}),
    samples: state.samples,
    baselineSamples: baselineObs,
    ...(baseline?.history ? { baselineHistory: Object.fromEntries(baseline.history) } : {}),
  };
}
