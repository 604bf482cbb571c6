// The pure decision core: one sample against a rule's bounds, `for` debouncing (a Nagios-style hard
// state), no-data policy, and the verdict. No I/O, no clock: the watch loop feeds it observations.
import type {
  Breach,
  Check,
  CheckKind,
  Comparison,
  FailOn,
  Observation,
  RecordedSample,
  Rule,
  Verdict,
} from './types.js';
import { objectiveText, promDuration } from './slo.js';

interface Streak {
  bad: number;
  badSince: number;
  noData: number;
  noDataSince: number;
}

export interface RuleState {
  ticks: number;
  streaks: Record<string, Streak>;
  samples: RecordedSample[];
  /** Set once `for` consecutive bad samples were seen on a host: the rule failed. */
  hardFail?: Breach;
  /** `for` consecutive no-data samples under no-data: inconclusive. */
  hardNoData?: { host: string; since: number; reason: string };
  /** A query that cannot work (bad query, several series): the rule fails closed. */
  error?: string;
}

export function initialRuleState(): RuleState {
  return { ticks: 0, streaks: {}, samples: [] };
}

function resolvePercentOrAbsolute(
  baseline: number,
  b: { kind: 'percent' | 'absolute'; value: number },
  sign: 1 | -1,
): number {
  const delta = b.kind === 'percent' ? (Math.abs(baseline) * b.value) / 100 : b.value;
  return baseline + sign * delta;
}

/** One sample against the rule's bounds. Absolute bounds are checked even when the baseline is missing. */
export function checkSample(rule: Rule, value: number | null, baseline?: number | null, reason?: string): Check {
  if (value === null || !Number.isFinite(value))
    return { state: 'no-data', check: 'no-data', reason: reason ?? 'no value' };
  if (rule.min !== undefined && value < rule.min) return { state: 'breach', check: 'min', bound: rule.min };
  if (rule.max !== undefined && value > rule.max) return { state: 'breach', check: 'max', bound: rule.max };
  const relative = rule.maxDrop !== undefined || rule.maxRise !== undefined;
  if (relative) {
    // undefined: no baseline exists at all (every host is a canary), so only absolute bounds apply.
    if (baseline === undefined) return { state: 'ok' };
    if (baseline === null || !Number.isFinite(baseline)) {
      return { state: 'no-data', check: 'no-data', reason: 'no baseline value to compare with' };
    }
    if (rule.maxDrop) {
      const bound = resolvePercentOrAbsolute(baseline, rule.maxDrop, -1);
      if (value < bound) return { state: 'breach', check: 'max-drop', bound };
    }
    if (rule.maxRise) {
      const bound = resolvePercentOrAbsolute(baseline, rule.maxRise, 1);
      if (value > bound) return { state: 'breach', check: 'max-rise', bound };
    }
  }
  return { state: 'ok' };
}

/** The bound a chart draws for the rule (a relative one needs the sample's baseline). */
export function boundsAt(rule: Rule, baseline?: number | null): { lower?: number; upper?: number } {
  let lower = rule.min;
  let upper = rule.max;
  if (baseline !== undefined && baseline !== null && !Number.isNaN(baseline)) {
    if (rule.maxDrop) lower = Math.max(lower ?? -Infinity, resolvePercentOrAbsolute(baseline, rule.maxDrop, -1));
    if (rule.maxRise) upper = Math.min(upper ?? Infinity, resolvePercentOrAbsolute(baseline, rule.maxRise, 1));
  }
  return { lower, upper };
}

const iso = (t: number) => new Date(t).toISOString();
/** A breach carries its rule's runbook, for whoever it reaches (alerts, the RCA issue). */
const runbookOf = (rule: Rule): Pick<Breach, 'runbook'> => (rule.runbook ? { runbook: rule.runbook } : {});

export function describeCheck(check: CheckKind, rule: Rule): string {
  switch (check) {
    case 'min':
      return `below min ${rule.min}`;
    case 'max':
      return rule.slo
        ? `burn rate above ${rule.max}, the page threshold of the ${objectiveText(rule.slo)} SLO over ` +
            `${promDuration(rule.slo.windowMs)}`
        : `above max ${rule.max}`;
    case 'max-drop':
      return `dropped more than ${amount(rule.maxDrop!)} below the baseline`;
    case 'max-rise':
      return `rose more than ${amount(rule.maxRise!)} above the baseline`;
    case 'no-data':
      return 'no data';
    case 'compare':
      return 'worse than the baseline (significant)';
    case 'error':
      return 'query error';
  }
}

/**
 * Feeds one tick's observations (one per host) into the rule's state and returns the new state.
 * A no-data sample counts as breaching under no-data: fail, as healthy under pass, and under
 * inconclusive it breaks a breach streak and, `for` times in a row, makes the rule inconclusive.
 */
export function advanceRule(rule: Rule, state: RuleState, observations: readonly Observation[]): RuleState {
  const next: RuleState = {
    ...state,
    ticks: state.ticks + 1,
    streaks: { ...state.streaks },
    samples: [...state.samples],
  };
  for (const o of observations) {
    const c = checkSample(rule, o.value, o.baseline, o.reason);
    next.samples.push({ ...o, ...c });
    const prev = next.streaks[o.host] ?? { bad: 0, badSince: o.t, noData: 0, noDataSince: o.t };
    const s: Streak = { ...prev };
    const bad = c.state === 'breach' || (c.state === 'no-data' && rule.noData === 'fail');
    if (bad) {
      if (s.bad === 0) s.badSince = o.t;
      s.bad++;
    } else {
      s.bad = 0;
    }
    if (c.state === 'no-data') {
      if (s.noData === 0) s.noDataSince = o.t;
      s.noData++;
    } else {
      s.noData = 0;
    }
    next.streaks[o.host] = s;
    if (!next.hardFail && s.bad >= rule.for) {
      next.hardFail = {
        rule: rule.name,
        check: c.check ?? 'no-data',
        ...(o.host ? { host: o.host } : {}),
        value: o.value,
        bound: c.bound ?? null,
        ...(o.baseline !== undefined ? { baseline: o.baseline } : {}),
        when: iso(o.t),
        since: iso(s.badSince),
        detail: c.state === 'no-data' ? `no data: ${c.reason}` : describeCheck(c.check!, rule),
        ...runbookOf(rule),
      };
    }
    if (!next.hardNoData && rule.noData === 'inconclusive' && s.noData >= rule.for) {
      next.hardNoData = { host: o.host, since: s.noDataSince, reason: c.reason ?? 'no value' };
    }
  }
  return next;
}

/** Marks a rule whose query cannot work; it fails closed. */
export function failRule(state: RuleState, message: string): RuleState {
  return { ...state, error: message };
}

export interface RuleOutcome {
  rule: string;
  verdict: Verdict;
  reason: string;
  breach?: Breach;
  comparison?: Comparison;
}

/** How the comparison reads in one line: levels, the relative change, the test. */
export function describeComparison(c: Comparison): string {
  const units =
    c.method === 'series' || c.method === 'differences'
      ? `${c.method === 'series' ? 'series' : 'difference in differences'}, ~${c.units.canary} vs ` +
        `~${c.units.baseline} effective readings`
      : `${c.method}, ${c.units.canary} vs ${c.units.baseline} host(s)`;
  const rel = c.relative === null ? '' : ` (${c.relative >= 0 ? '+' : ''}${fmt(c.relative)}%)`;
  const side = c.direction === 'either' ? 'two-sided' : `one-sided, ${c.direction} is worse`;
  return (
    `canary ${fmt(c.canary)} vs baseline ${fmt(c.baseline)}${rel}; t=${fmt(c.t)}, df=${fmt(c.df)}, ` +
    `p=${c.p.toPrecision(3)} ${side}, bound ${c.bound.toPrecision(2)} at ${Math.round(100 * c.fraction)}% of ` +
    `the information (${c.alpha.toPrecision(2)} to spend) [${units}]`
  );
}

function compareOutcome(
  rule: Rule,
  state: RuleState,
  comparison: Comparison | undefined,
  at: number,
): Omit<RuleOutcome, 'rule'> | undefined {
  if (!comparison) return { verdict: 'inconclusive', reason: 'nothing to compare with: no baseline readings' };
  if (comparison.insufficient)
    return { verdict: 'inconclusive', reason: `too little to compare: ${comparison.insufficient}` };
  if (!comparison.significant) {
    // An anytime-valid comparison fails as soon as the evidence is there, but passes only at the end.
    if (comparison.fraction < 1)
      return {
        verdict: 'inconclusive',
        reason:
          `the watch ended before its comparison could pass (at ${Math.round(100 * comparison.fraction)}% of ` +
          `its information): ${describeComparison(comparison)}`,
      };
    return undefined;
  }
  const detail = `worse than the baseline: ${describeComparison(comparison)}`;
  const breach: Breach = {
    rule: rule.name,
    check: 'compare',
    value: comparison.canary,
    bound: null,
    baseline: comparison.baseline,
    when: iso(at),
    since: iso(state.samples[0]?.t ?? at),
    detail,
    ...runbookOf(rule),
  };
  return { verdict: 'fail', reason: detail, breach };
}

/**
 * The rule's verdict once the watch is over (or ended early) at `at` (epoch ms: the watch loop's clock).
 * `comparison` is the canary judge's, if any.
 */
export function ruleOutcome(rule: Rule, state: RuleState, comparison: Comparison | undefined, at: number): RuleOutcome {
  const base = { rule: rule.name, ...(comparison ? { comparison } : {}) };
  if (state.error) {
    const breach: Breach = {
      rule: rule.name,
      check: 'error',
      value: null,
      bound: null,
      when: iso(at),
      since: iso(at),
      detail: state.error,
      ...runbookOf(rule),
    };
    return { ...base, verdict: 'fail', reason: state.error, breach };
  }
  if (state.hardFail) {
    const b = state.hardFail;
    const where = b.host ? ` on ${b.host}` : '';
    const value = b.value === null ? '' : ` (${fmt(b.value)}${b.bound !== null ? ` vs bound ${fmt(b.bound)}` : ''})`;
    return {
      ...base,
      verdict: 'fail',
      reason: `${b.detail}${value}${where} for ${rule.for} sample(s) since ${b.since}`,
      breach: b,
    };
  }
  if (rule.compare) {
    const o = compareOutcome(rule, state, comparison, at);
    if (o?.verdict === 'fail') return { ...base, ...o };
    if (o && !state.hardNoData) return { ...base, ...o };
  }
  if (state.hardNoData) {
    const where = state.hardNoData.host ? ` on ${state.hardNoData.host}` : '';
    return {
      ...base,
      verdict: 'inconclusive',
      reason: `no data${where} since ${iso(state.hardNoData.since)}: ${state.hardNoData.reason}`,
    };
  }
  if (state.ticks < rule.for) {
    return {
      ...base,
      verdict: 'inconclusive',
      reason: `too few samples: ${state.ticks} of the ${rule.for} needed to decide`,
    };
  }
  const withData = state.samples.filter((s) => s.state !== 'no-data').length;
  if (withData === 0 && rule.noData !== 'pass') {
    return { ...base, verdict: 'inconclusive', reason: 'no sample had data' };
  }
  return {
    ...base,
    verdict: 'pass',
    reason:
      `${withData} sample(s) within ` +
      `bounds${rule.compare && comparison ? `; ${describeComparison(comparison)}` : ''}`,
  };
}

export function overallVerdict(outcomes: readonly { verdict: Verdict }[]): Verdict {
  if (outcomes.some((o) => o.verdict === 'fail')) return 'fail';
  if (outcomes.some((o) => o.verdict === 'inconclusive')) return 'inconclusive';
  return 'pass';
}

/** Whether the step fails for this verdict under `fail-on`. */
export function failsStep(verdict: Verdict, failOn: FailOn): boolean {
  if (failOn === 'never') return false;
  if (verdict === 'fail') return true;
  return failOn === 'inconclusive' && verdict === 'inconclusive';
}

export function fmt(n: number | null | undefined): string {
  if (n === null || n === undefined) return '—';
  if (!Number.isFinite(n)) return String(n);
  return Math.abs(n) >= 1000 || Number.isInteger(n)
    ? String(Math.round(n * 100) / 100)
    : n.toPrecision(4).replace(/\.?0+$/, '');
}

/** A max-drop or max-rise as written: `5` or `5%`. */
export function amount(limit: { value: number; kind: string }): string {
  return `${limit.value}${limit.kind === 'percent' ? '%' : ''}`;
}
