// The watch loop: sample every rule at each interval, feed the pure core, stop early on a hard failure,
// then let the canary judge compare the canaries with their baseline. One implementation for
// metric-watch and ssh-rollout; it returns its result and sends nothing (the action sends the alerts).
import type { Logger } from '../common/logger.js';
import { errorMessage } from '../common/errors.js';
import {
  advanceRule,
  describeComparison,
  failRule,
  initialRuleState,
  overallVerdict,
  ruleOutcome,
  type RuleState,
} from './rules.js';
import { createSource } from './sources/index.js';
import { sourceUrlShown } from './sources/http.js';
import { QueryError, type MetricSource, type Readings } from './sources/types.js';
import type { Observation, Rule, RuleReport, WatchResult, WatchSettings } from './types.js';
import { falseFailShare, JUDGE_MINIMUM } from './judge.js';
import {
  compareRule,
  loadHistory,
  ownHistoryMs,
  priorBaselines,
  sampleBaseline,
  type Fail,
  type CompareOptions,
  type PriorReadings,
  type RuleBaseline,
} from './watch-baseline.js';
import { resolveHosts, usesHost, type HostSets } from './watch-hosts.js';
import {
  normalise,
  observe,
  ONCE_SLO_WINDOW_MS,
  readingWindow,
  ruleAt,
  sloWindowMs,
  tickLabel,
  tickLine,
} from './watch-readings.js';
import { formatDurationInput } from '../common/format.js';
import { objectiveText, promDuration } from './slo.js';

export type { PriorReadings } from './watch-baseline.js';
export { ownHistoryMs } from './watch-baseline.js';
export { hostName, matchHosts } from './watch-hosts.js';
export { finiteReading, ruleAt, scaleByShare, sloWindowMs } from './watch-readings.js';

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
   * Each host's share (0..1) of the requests the load balancer sent over `window` (ssh-rollout with
   * canary-weight): a volume reading is restated at its host's share over the span its rate covers (which may
   * start before the bake), so a canary at 10% is not failed for earning a tenth. Without a window: since the
   * watch began.
   */
  trafficShares?: (window?: { from: number; to: number }) => Promise<ReadonlyMap<string, number> | null>;
  /**
   * The bakes of the rollout this watch is one of (ssh-rollout): the judge's false-fail budget, 1 − confidence,
   * is split over them as over the compare rules, so it bounds the whole rollout. Default 1 (a standalone watch).
   */
  bakes?: number;
  /**
   * Rule name → every host's readings from an earlier bake (ssh-rollout): with fewer than 3 baseline hosts,
   * the before-window of a difference in differences.
   */
  hostsBefore?: Map<string, PriorReadings>;
  /** Overrides the `duration` setting (ssh-rollout: the bake time). */
  durationMs?: number;
  /** One sample of every rule, taken at once (`fivestep watch --once`): the verdict of that instant. */
  once?: boolean;
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

/**
 * source: replay — what the settings leave unset comes from the recording: hosts and canary-hosts when
 * neither the settings nor the options name any, duration and interval when they are 0 (not given).
 */
function withRecorded(
  settings: WatchSettings,
  recorded: MetricSource['recorded'],
  options: WatchOptions,
): WatchSettings {
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
  const watch = openWatch(given, options);
  announce(watch);
  await primeSource(watch);
  await loadBaselines(watch);
  const { ticks, endedEarly } = await watchTicks(watch);
  return conclude(watch, ticks, endedEarly);
}

/** One watch, as its phases share it. */
interface Watch {
  settings: WatchSettings;
  options: WatchOptions;
  logger: Logger;
  signal?: AbortSignal;
  source: MetricSource;
  now: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  durationMs: number;
  /** The canaries' own readings from before, per rule: the baseline of a rollout's last wave. */
  prior?: Map<string, PriorReadings>;
  /** What the canaries are compared with: a rollout's last wave compares with `before`. */
  kind: WatchSettings['baseline']['kind'];
  hosts: HostSets;
  /** The hosts a rule's sample reads (none: the rule reads once for all). */
  readFor: (rule: Rule) => string[];
  states: Map<string, RuleState>;
  baselines: Map<string, RuleBaseline>;
  /** Readings of the baseline hosts (baseline hosts), per rule. */
  baselineSamples: Map<string, Observation[]>;
  /** Marks a rule as not evaluable, saying why. */
  fail: Fail;
  /** When the watch began. */
  t0: number;
  /** Readings the watch plans per host (its ticks). */
  plannedTicks: number;
  /** Each compare rule's share of the false-fail budget (falseFailShare). */
  alpha: Map<string, number>;
}

/** The source, its clock, the settings and the hosts: everything before the first reading. */
function openWatch(given: WatchSettings, options: WatchOptions): Watch {
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
  const fail = (rule: Rule, err: unknown) => {
    logger.error(errorMessage(err));
    states.set(rule.name, failRule(states.get(rule.name)!, errorMessage(err)));
  };
  const deciding = settings.rules.filter((r) => r.compare).length;
  const alpha = new Map(settings.rules.map((r) => [r.name, falseFailShare(r, deciding, options.bakes)]));
  return {
    settings,
    options,
    logger,
    signal,
    source,
    now,
    sleep,
    durationMs,
    prior,
    kind,
    hosts,
    readFor,
    states,
    baselines: new Map(),
    baselineSamples: new Map(settings.rules.map((r) => [r.name, []])),
    fail,
    t0: now(),
    plannedTicks: options.once ? 1 : Math.max(1, Math.floor(durationMs / settings.intervalMs)),
    alpha,
  };
}

function announce({ settings, durationMs, hosts, kind, prior, logger, options }: Watch): void {
  const every = options.once
    ? 'once, now'
    : `for ${formatDurationInput(durationMs)} every ${formatDurationInput(settings.intervalMs)}`;
  logger.info(
    `Watching ${settings.rules.length} rule(s) on ${settings.source} ${sourceUrlShown(settings.url)} ${every}` +
      (hosts.canary.length ? `; canaries: ${hosts.canary.join(', ')}` : '') +
      (kind === 'hosts' ? `; baseline hosts: ${hosts.baseline.join(', ') || 'none'}` : '') +
      (prior ? '; baseline: the same hosts before this wave' : ''),
  );
  for (const rule of settings.rules.filter((r) => r.slo)) {
    const over = options.once ? `the last ${promDuration(ONCE_SLO_WINDOW_MS)}` : 'the watch so far';
    logger.info(
      `rule '${rule.name}': SLO ${objectiveText(rule.slo!)} over ${promDuration(rule.slo!.windowMs)}; ` +
        `fails when its burn rate over ${over} is above ${rule.max} (the page threshold)`,
    );
  }
}

/** Counter rates need a first scrape to measure against. */
async function primeSource({ source, settings, readFor, t0: at, signal, fail, logger }: Watch): Promise<void> {
  if (!source.prime) return;
  await Promise.all(
    settings.rules.map((rule) =>
      source.prime!({ rule: ruleAt(rule, settings.intervalMs), hosts: readFor(rule), at, signal }).catch((err) => {
        if (err instanceof QueryError) fail(rule, err);
        else logger.warning(`rule '${rule.name}': first scrape failed: ${errorMessage(err)}`);
      }),
    ),
  );
}

/** The readings from before the watch that the canaries are compared with, where the baseline is `before`. */
async function loadBaselines(w: Watch): Promise<void> {
  const { settings } = w;
  if (w.prior) priorBaselines(settings.rules, w.prior, w.baselines);
  else if (settings.baseline.kind === 'before') {
    const windowMs = settings.baseline.windowMs;
    // An SLO rule has no relative bound: nothing to compare with a history (and `{window}` must not reach one).
    const relative = { ...settings, rules: settings.rules.filter((r) => !r.slo) };
    const { readFor, t0, signal, states, baselines, fail, logger } = w;
    await loadHistory(w.source, relative, windowMs, readFor, t0, signal, states, baselines, fail, logger);
  } else if (w.kind === 'hosts' && w.hosts.baseline.length > 0 && w.hosts.baseline.length < JUDGE_MINIMUM.baselineHosts)
    await loadHostsBefore(w);
}

/**
 * Fewer baseline hosts than host means need: every host's readings before the watch, for a difference in
 * differences. An earlier bake's (ssh-rollout), else the source's history over the watch's length (at least
 * the judge's minimum of readings); a source without history leaves the comparison inconclusive, saying why.
 */
async function loadHostsBefore(w: Watch): Promise<void> {
  const { settings, logger } = w;
  const rules = settings.rules.filter((r) => (r.compare || r.maxDrop || r.maxRise) && !r.slo);
  if (rules.length === 0) return;
  const earlier = w.options.hostsBefore;
  if (earlier) {
    for (const rule of rules) {
      const history = earlier.get(rule.name);
      if (history) w.baselines.set(rule.name, { history });
    }
    logger.info(
      `${w.hosts.baseline.length} baseline host(s): each host is compared with its readings from the bake before`,
    );
    return;
  }
  if (!w.source.history) {
    logger.info(
      `${w.hosts.baseline.length} baseline host(s) are too few to compare host means, and source ` +
        `${settings.source} keeps no history to compare each host with its own readings before: compare rules ` +
        'will be inconclusive',
    );
    return;
  }
  const windowMs = ownHistoryMs(w.durationMs, settings.intervalMs);
  logger.info(
    `${w.hosts.baseline.length} baseline host(s): each host is also compared with its own readings over the ` +
      `${formatDurationInput(windowMs)} before (difference in differences)`,
  );
  const { readFor, t0, signal, states, baselines, fail } = w;
  await loadHistory(w.source, { ...settings, rules }, windowMs, readFor, t0, signal, states, baselines, fail, logger);
}

/** How a rule's comparison is looked at: during the watch (no Mann-Whitney) or at its end. */
function compareOptions(w: Watch, rule: Rule, during: boolean): CompareOptions {
  return { alpha: w.alpha.get(rule.name)!, plannedTicks: w.plannedTicks, ...(during ? { mannWhitney: false } : {}) };
}

/** A compare rule whose look is already past its bound: the canaries are worse, the watch need not go on. */
function compareFailedEarly(w: Watch): string {
  for (const rule of w.settings.rules) {
    const state = w.states.get(rule.name)!;
    if (!rule.compare || state.error) continue;
    const c = compareRule(
      rule,
      state,
      w.kind,
      w.baselines.get(rule.name),
      w.baselineSamples.get(rule.name)!,
      compareOptions(w, rule, true),
    );
    if (c?.significant) return `rule '${rule.name}' is worse than the baseline (p=${c.p.toPrecision(3)})`;
  }
  return '';
}

/**
 * Samples every rule at each interval until the duration is over, the watch is aborted, or a rule fails
 * hard: the ticks taken, and why the watch ended early ('' when it did not).
 */
async function watchTicks(w: Watch): Promise<{ ticks: number; endedEarly: string }> {
  const { settings, states, signal, now } = w;
  const once = w.options.once === true;
  const ticks = w.plannedTicks;
  let tick = 0;
  for (tick = 1; tick <= ticks; tick++) {
    const wait = once ? 0 : w.t0 + tick * settings.intervalMs - now();
    if (wait > 0) await w.sleep(wait, signal);
    if (signal?.aborted) return { ticks: tick - 1, endedEarly: 'aborted' };
    const at = now();
    const active = settings.rules.filter((r) => !states.get(r.name)!.error);
    await Promise.all(active.map((rule) => sampleRule(w, rule, { tick, ticks, at })));
    const hard = settings.rules.find((r) => states.get(r.name)!.hardFail || states.get(r.name)!.error);
    if (hard) {
      const st = states.get(hard.name)!;
      const endedEarly = st.error
        ? `rule '${hard.name}' cannot be evaluated`
        : `rule '${hard.name}' failed: ${st.hardFail!.detail}`;
      w.logger.info(`Ending the watch early: ${endedEarly}`);
      return { ticks: tick, endedEarly };
    }
    const worse = compareFailedEarly(w);
    if (worse) {
      w.logger.info(`Ending the watch early: ${worse}`);
      return { ticks: tick, endedEarly: worse };
    }
  }
  return { ticks: Math.min(tick, ticks), endedEarly: '' };
}

/** One rule's sample at a tick: read, judge against the bounds, log. */
async function sampleRule(w: Watch, rule: Rule, t: { tick: number; ticks: number; at: number }): Promise<void> {
  const { settings, hosts, states, kind } = w;
  // An SLO rule's value is its burn rate over the watch so far: `{window}` is filled in at each read.
  const rangeMs = sloWindowMs(w.t0, t.at, settings.intervalMs, w.options.once === true);
  const read = ruleAt(rule, rangeMs);
  // A volume reading is restated at each host's share of requests over the span its own rate covers.
  const shares =
    rule.volume && w.options.trafficShares
      ? w.options.trafficShares(readingWindow(read, t.at, settings.intervalMs)).catch(() => null)
      : Promise.resolve(null);
  let readings: Readings;
  try {
    readings = await w.source.sample({ rule: read, hosts: w.readFor(rule), at: t.at, signal: w.signal });
  } catch (err) {
    if (err instanceof QueryError) return w.fail(rule, err);
    const reason = `source error: ${errorMessage(err)}`;
    readings = new Map((w.readFor(rule).length ? w.readFor(rule) : ['']).map((h) => [h, { value: null, reason }]));
  }
  const judged = normalise(readings, await shares);
  const keys = usesHost(settings, rule) ? hosts.judged : [''];
  const baselineOf = { kind, fromPrior: !!w.prior, baselines: w.baselines, baselineHosts: hosts.baseline };
  const observations: Observation[] = keys.map((host) =>
    observe(t.at, host, judged.get(host), sampleBaseline(baselineOf, rule, host, judged)),
  );
  if (kind === 'hosts' && usesHost(settings, rule)) {
    for (const h of hosts.baseline) w.baselineSamples.get(rule.name)!.push(observe(t.at, h, judged.get(h), undefined));
  }
  const next = advanceRule(rule, states.get(rule.name)!, observations);
  states.set(rule.name, next);
  const line = tickLine(next.samples.slice(-observations.length));
  w.logger.info(`[${t.tick}/${t.ticks}] ${rule.name}: ${tickLabel(rule, rangeMs)}${line}`);
}

/** The verdict: each rule's report, logged, and the watch's result. */
function conclude(w: Watch, ticks: number, endedEarly: string): WatchResult {
  const { settings, hosts, logger } = w;
  const at = w.now();
  const reports = settings.rules.map((rule) => {
    const state = w.states.get(rule.name)!;
    const options = compareOptions(w, rule, false);
    return reportRule(rule, state, w.kind, w.baselines.get(rule.name), w.baselineSamples.get(rule.name)!, at, options);
  });
  const verdict = overallVerdict(reports);
  const notPassing = reports.filter((r) => r.verdict !== 'pass');
  for (const r of reports) {
    const deciding = r.comparison && !r.rule.compare && !r.comparison.insufficient;
    const cmp = deciding ? ` [compared, not deciding: ${describeComparison(r.comparison!)}]` : '';
    logger.info(`${r.verdict.toUpperCase()} ${r.name}: ${r.reason}${cmp}`);
  }
  logger.info(`Verdict: ${verdict}`);
  const detail =
    notPassing.length === 0
      ? `all ${reports.length} rule(s) passed`
      : notPassing.map((r) => `${r.name}: ${r.verdict}: ${r.reason}`).join('; ');
  return {
    verdict,
    detail,
    breaches: reports.flatMap((r) => (r.breach ? [r.breach] : [])),
    rules: reports,
    endedEarly,
    startedAt: new Date(w.t0).toISOString(),
    endedAt: new Date(at).toISOString(),
    ticks,
    hosts: { canary: hosts.canary, baseline: hosts.baseline, all: hosts.all },
    alertWarnings: [],
    settings: {
      source: settings.source,
      url: sourceUrlShown(settings.url),
      baseline: baselineName(w),
      durationMs: w.durationMs,
      intervalMs: settings.intervalMs,
      failOn: settings.failOn,
      environment: settings.environment,
    },
  };
}

/** The baseline as the result names it: `before:wave`, `before:300s`, `hosts` or `none`. */
function baselineName({ prior, settings }: Watch): string {
  if (prior) return 'before:wave';
  return settings.baseline.kind === 'before'
    ? `before:${formatDurationInput(settings.baseline.windowMs)}`
    : settings.baseline.kind;
}

function reportRule(
  rule: Rule,
  state: RuleState,
  kind: string,
  baseline: RuleBaseline | undefined,
  baselineObs: Observation[],
  at: number,
  options: CompareOptions,
): RuleReport {
  const comparison = compareRule(rule, state, kind, baseline, baselineObs, options);
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
