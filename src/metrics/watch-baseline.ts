// What a watch compares the canaries with: their own readings before (baseline before:<window>, or a
// rollout's last wave), or the baseline hosts read at the same ticks (baseline hosts).
import type { Logger } from '../common/logger.js';
import { errorMessage } from '../common/errors.js';
import { harmfulDirection, judge, JUDGE_MINIMUM } from './judge.js';
import { fmt, type RuleState } from './rules.js';
import { QueryError, type MetricSource, type Readings } from './sources/types.js';
import { median } from '../common/stats.js';
import { mean } from './stats.js';
import type { Comparison, Observation, Rule, WatchSettings } from './types.js';
import { formatDurationInput } from '../common/format.js';

/** A host's readings before the watch, oldest first. */
export type PriorReadings = Map<string, { t: number; value: number }[]>;

/** Per rule: what the canaries are compared with. */
export interface RuleBaseline {
  /** before-style: each host's readings before the watch, and their median (the per-sample bound's base). */
  history?: PriorReadings;
  medians?: Map<string, number | null>;
}

export type Fail = (rule: Rule, err: unknown) => void;

function medians(history: PriorReadings): Map<string, number | null> {
  return new Map([...history].map(([h, xs]) => [h, xs.length ? median(xs.map((x) => x.value)) : null]));
}

/** A rollout's last wave: the canaries' own readings from before, per rule that has them. */
export function priorBaselines(
  rules: readonly Rule[],
  prior: Map<string, PriorReadings>,
  baselines: Map<string, RuleBaseline>,
): void {
  for (const rule of rules) {
    const history = prior.get(rule.name);
    if (history) baselines.set(rule.name, { history, medians: medians(history) });
  }
}

/**
 * How far back a host's own readings reach when they are its control (a rollout's last wave with no earlier
 * bake, a small fleet's difference in differences): one watch's length, at least the judge's minimum of
 * readings for a series.
 */
export function ownHistoryMs(durationMs: number, intervalMs: number): number {
  return Math.max(durationMs, intervalMs * JUDGE_MINIMUM.seriesReadings);
}

/** baseline before:<window>: each host's readings over the window (finite ones), and their median. */
export async function loadHistory(
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
      const window = { start: t0 - windowMs, end: t0, stepMs: settings.intervalMs };
      const raw = await source.history({ rule, hosts: readFor(rule), at: t0, ...window, signal });
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
      const values = [...m].map(([h, v]) => `${h ? `${h} ` : ''}${fmt(v)}`).join(', ');
      logger.info(
        `rule '${rule.name}': baseline over the ${formatDurationInput(windowMs)} before: ${values} (median ` +
          `of ${points} points)`,
      );
    } catch (err) {
      if (err instanceof QueryError) fail(rule, err);
      else {
        logger.warning(`rule '${rule.name}': baseline query failed: ${errorMessage(err)}`);
        baselines.set(rule.name, { history: new Map(), medians: new Map() });
      }
    }
  }
}

/** How a watch's samples get their baseline value. */
export interface SampleBaseline {
  kind: WatchSettings['baseline']['kind'];
  /** The baseline is the canaries' own readings from before the wave (a rollout's last wave). */
  fromPrior: boolean;
  baselines: Map<string, RuleBaseline>;
  baselineHosts: readonly string[];
}

/**
 * The baseline of one host's sample of a rule: undefined when the sample is compared with none, null when
 * there is one but it has no value.
 */
export function sampleBaseline(
  b: SampleBaseline,
  rule: Rule,
  host: string,
  readings: Readings,
): number | null | undefined {
  if (b.kind === 'before') {
    if (!(rule.maxDrop || rule.maxRise || rule.compare)) return undefined;
    // A rollout's host without readings from before is not compared (it has no baseline of its own).
    if (b.fromPrior && !b.baselines.get(rule.name)?.medians?.has(host)) return undefined;
    return b.baselines.get(rule.name)?.medians?.get(host) ?? null;
  }
  if (b.kind === 'hosts') {
    if (b.baselineHosts.length === 0) return undefined;
    const values = b.baselineHosts.map((h) => readings.get(h)?.value).filter((v): v is number => typeof v === 'number');
    return values.length ? mean(values) : null;
  }
  return undefined;
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

/** What a rule's comparison is made with: its share of the false-fail budget, and the watch's planned ticks. */
export interface CompareOptions {
  alpha: number;
  /** Ticks the watch plans (each comparison is then one look of a sequential test); absent: the only look. */
  plannedTicks?: number;
  /** For a reader: the pooled Mann-Whitney figures (left out of the looks during the watch). */
  mannWhitney?: boolean;
}

/**
 * The gap between the canaries' mean and the baseline hosts' mean at each instant both have readings, oldest
 * first: the series a difference in differences compares, before against during.
 */
export function gapSeries(
  canary: Pick<ReadonlySet<string>, 'has'>,
  readings: Iterable<{ t: number; host: string; value: number | null }>,
): number[] {
  const at = new Map<number, { c: number; nc: number; b: number; nb: number }>();
  for (const r of readings) {
    if (r.value === null || !Number.isFinite(r.value)) continue;
    const slot = at.get(r.t) ?? { c: 0, nc: 0, b: 0, nb: 0 };
    if (canary.has(r.host)) {
      slot.c += r.value;
      slot.nc++;
    } else {
      slot.b += r.value;
      slot.nb++;
    }
    at.set(r.t, slot);
  }
  return [...at]
    .filter(([, x]) => x.nc > 0 && x.nb > 0)
    .sort(([a], [b]) => a - b)
    .map(([, x]) => x.c / x.nc - x.b / x.nb);
}

/** Every host's readings before, as instants (host readings from a history or an earlier bake). */
function priorInstants(history: PriorReadings) {
  return [...history].flatMap(([host, xs]) => xs.map((x) => ({ t: x.t, host, value: x.value })));
}

/** The judge's comparison for a rule, when it has a baseline to compare with. */
export function compareRule(
  rule: Rule,
  state: RuleState,
  kind: string,
  baseline: RuleBaseline | undefined,
  baselineObs: readonly Observation[],
  options: CompareOptions = { alpha: 1 - rule.confidence },
): Comparison | undefined {
  const canary = byHost(state.samples);
  const canaryHosts = new Set(state.samples.map((o) => o.host));
  const common = {
    direction: harmfulDirection(rule),
    confidence: rule.confidence,
    canary,
    alpha: options.alpha,
    ...(options.plannedTicks !== undefined ? { look: { taken: state.ticks, planned: options.plannedTicks } } : {}),
    ...(options.mannWhitney === false ? { mannWhitney: false } : {}),
  };
  if (kind === 'hosts' && baselineObs.length > 0) {
    const others = byHost(baselineObs);
    // Too few baseline hosts for host means: every host's readings before give a difference in differences.
    const few = [...others.values()].filter((xs) => xs.length >= JUDGE_MINIMUM.readingsPerHost).length;
    const gaps =
      few < JUDGE_MINIMUM.baselineHosts && baseline?.history
        ? {
            before: gapSeries(canaryHosts, priorInstants(baseline.history)),
            during: gapSeries(canaryHosts, [...state.samples, ...baselineObs]),
          }
        : undefined;
    return judge({ ...common, baseline: others, design: 'hosts', ...(gaps ? { gaps } : {}) });
  }
  if (kind === 'before' && baseline?.history) {
    const before = new Map([...baseline.history].map(([h, xs]) => [h, xs.map((x) => x.value)]));
    return judge({ ...common, baseline: before, design: 'before' });
  }
  return undefined;
}
