// The canary judge as it was before rollout-level error control and early verdicts (release 2), kept
// unchanged so the benchmark can print today's figures beside it. Not used by the product.
// The canary judge: are the canaries worse than the baseline, in the rule's harmful direction, with the
// rule's confidence? Pure. Successive readings of one host are correlated and hosts differ a little from
// each other, so a bake of 20 readings per host is not 20 independent observations: the test's unit is
// what really is independent.
//   - baseline hosts: each host's mean over the bake; canary means against baseline means (Student's t,
//     pooled variance). The spread of the baseline hosts' means carries both the autocorrelation and the
//     steady host-to-host differences, so neither makes a healthy canary look significant.
//   - the same hosts before (before:<duration>, a rollout's last wave): each host's change from its own
//     earlier readings, a one-sample t over hosts (its own offset cancels).
//   - one series (a query that is not per host, or too few hosts to pair): before against during, with
//     the variance of each mean inflated by the series' lag-1 autocorrelation (AR(1), bias-corrected).
// The direction comes from the test statistic itself, never from an estimate that ties can make zero.
import type { Comparison, Direction, Rule } from '../src/metrics/types.js';
import { lag1Autocorrelation, mannWhitney, mean, studentTSf, variance } from '../src/metrics/stats.js';

/** Its comparison had no look bound: it fixed 1 − confidence for each rule and bake. */
export type PreviousComparison = Omit<Comparison, 'alpha' | 'fraction' | 'bound'>;

/** What the judge needs before it decides anything; below it the verdict is inconclusive. */
export const JUDGE_MINIMUM = {
  /** Finite readings a host needs to count as a unit. */
  readingsPerHost: 5,
  /** Baseline hosts (with enough readings) against one or more canaries: 3 gives 2 degrees of freedom. */
  baselineHosts: 3,
  /** Hosts with readings both before and during, for a paired comparison; fewer are judged as series. */
  pairedHosts: 3,
  /** Readings of a series in each window (before and during). */
  seriesReadings: 10,
} as const;

/** Which way a change hurts: a rule with only max-drop cares about falls, only max-rise about rises. */
export function harmfulDirection(rule: Rule): Direction {
  if (rule.maxDrop && !rule.maxRise) return 'decrease';
  if (rule.maxRise && !rule.maxDrop) return 'increase';
  if (rule.min !== undefined && rule.max === undefined && !rule.maxRise) return 'decrease';
  if (rule.max !== undefined && rule.min === undefined && !rule.maxDrop) return 'increase';
  return 'either';
}

export interface JudgeInput {
  direction: Direction;
  confidence: number;
  /** Readings per canary host, in time order (non-finite values are dropped here). */
  canary: ReadonlyMap<string, readonly number[]>;
  /** `hosts`: readings per baseline host; `before`: each canary host's own readings before (same keys). */
  baseline: ReadonlyMap<string, readonly number[]>;
  design: 'hosts' | 'before';
  /** Also compute the pooled Mann-Whitney figures for the report (default true; simulations skip them). */
  mannWhitney?: boolean;
}

interface Test {
  method: Comparison['method'];
  canary: number;
  baseline: number;
  difference: number;
  /** Standard error of the difference; 0 when every unit is flat. */
  se: number;
  df: number;
  /** Half a step of the data's grid when every reading is a whole number (counts), else 0. */
  continuity: number;
  units: { canary: number; baseline: number };
}

/** The finite readings; the list itself (not a copy) when all are, as they nearly always are. */
const finite = (xs: readonly number[]): number[] =>
  xs.every((x) => Number.isFinite(x)) ? (xs as number[]) : xs.filter((x) => Number.isFinite(x));

function finiteMap(m: ReadonlyMap<string, readonly number[]>): Map<string, number[]> {
  return new Map([...m].map(([k, v]) => [k, finite(v)]));
}

const allIntegers = (groups: readonly (readonly number[])[]) => groups.every((g) => g.every(Number.isInteger));

/** Within-host variance pooled over units (each around its own mean): the floor of a unit mean's variance. */
function pooledWithin(groups: readonly (readonly number[])[]): number {
  let ss = 0;
  let df = 0;
  for (const g of groups) {
    if (g.length < 2) continue;
    ss += variance(g) * (g.length - 1);
    df += g.length - 1;
  }
  return df > 0 ? ss / df : 0;
}

/** Host means, canaries against baseline hosts (pooled-variance t). */
function hostMeansTest(canary: number[][], baseline: number[][]): Test {
  const mc = canary.map(mean);
  const mb = baseline.map(mean);
  const nc = mc.length;
  const nb = mb.length;
  const ss = (xs: number[]) => (xs.length > 1 ? variance(xs) * (xs.length - 1) : 0);
  const between = (ss(mc) + ss(mb)) / (nc + nb - 2);
  const all = [...canary, ...baseline];
  const readingsPerUnit = mean(all.map((g) => g.length));
  // Independent readings bound a host mean's variance from below, per side: counts that every baseline
  // host has alike (0 errors each) must not make one canary error look infinitely significant, and a
  // canary at a tenth of the traffic is noisier than its peers (its own spread counts for it).
  const floorC = pooledWithin(canary) / readingsPerUnit;
  const floorB = pooledWithin(baseline) / readingsPerUnit;
  return {
    method: 'host-means',
    canary: mean(mc),
    baseline: mean(mb),
    difference: mean(mc) - mean(mb),
    se: Math.sqrt(Math.max(between, floorC) / nc + Math.max(between, floorB) / nb),
    // The floor does not add degrees of freedom: when it is used because the hosts' means happen to agree,
    // the test must stay as cautious as the number of hosts makes it.
    df: nc + nb - 2,
    continuity: allIntegers(all) ? 0.5 / readingsPerUnit : 0,
    units: { canary: nc, baseline: nb },
  };
}

/** Each host's change from its own readings before: one-sample t over hosts. */
function pairedTest(pairs: { during: number[]; before: number[] }[]): Test {
  const d = pairs.map((p) => mean(p.during) - mean(p.before));
  const n = d.length;
  const during = pairs.map((p) => p.during);
  const before = pairs.map((p) => p.before);
  const perHost = mean(during.map((g) => g.length));
  const perHostBefore = mean(before.map((g) => g.length));
  const between = variance(d);
  const floor = pooledWithin([...during, ...before]) * (1 / perHost + 1 / perHostBefore);
  return {
    method: 'paired-hosts',
    canary: mean(during.map(mean)),
    baseline: mean(before.map(mean)),
    difference: mean(d),
    se: Math.sqrt(Math.max(between, floor) / n),
    df: n - 1,
    continuity: allIntegers([...during, ...before]) ? 0.5 / Math.min(perHost, perHostBefore) : 0,
    units: { canary: n, baseline: n },
  };
}

/**
 * One series, before against during. Each mean's variance is s²/n · (1+φ)/(1-φ) for the series' lag-1
 * autocorrelation φ, whose estimate from short, mean-centred windows is biased low by about (1+3φ)/n per
 * window (Marriott & Pope), so it is corrected for that. Checked by simulation (bench): at φ = 0.8 with
 * 20 readings a side a healthy series fails at most ~0.03 of the time at confidence 0.98.
 */
function seriesTest(during: number[], before: number[]): Test {
  const total = during.length + before.length;
  const raw = lag1Autocorrelation([before, during]);
  let phi = raw;
  for (let i = 0; i < 3; i++) phi = raw + (2 * (1 + 3 * phi)) / total;
  phi = Math.min(0.95, Math.max(0, phi));
  const inflation = (1 + phi) / (1 - phi);
  const vd = (variance(during) / during.length) * inflation;
  const vb = (variance(before) / before.length) * inflation;
  const effD = during.length / inflation;
  const effB = before.length / inflation;
  const welch =
    vd + vb > 0 ? (vd + vb) ** 2 / (vd ** 2 / Math.max(1, effD - 1) + vb ** 2 / Math.max(1, effB - 1)) : total - 2;
  return {
    method: 'series',
    canary: mean(during),
    baseline: mean(before),
    difference: mean(during) - mean(before),
    se: Math.sqrt(vd + vb),
    df: Math.max(1, welch),
    continuity: allIntegers([during, before]) ? 0.5 / Math.min(during.length, before.length) : 0,
    units: { canary: Math.round(effD * 10) / 10, baseline: Math.round(effB * 10) / 10 },
  };
}

/** t and p in the harmful direction; a flat comparison (se 0) is certain either way. */
function tail(test: Test, direction: Direction): { t: number; p: number } {
  const { difference: d, se, continuity: cc, df } = test;
  const shrink = (x: number) => Math.sign(x) * Math.max(0, Math.abs(x) - cc);
  const t = se > 0 ? shrink(d) / se : shrink(d) === 0 ? 0 : Math.sign(d) * Infinity;
  if (direction === 'increase') return { t, p: studentTSf(t, df) };
  if (direction === 'decrease') return { t, p: studentTSf(-t, df) };
  return { t, p: Math.min(1, 2 * studentTSf(Math.abs(t), df)) };
}

const enough = (xs: readonly number[], n: number) => xs.length >= n;

/** The units the design has, or why there are too few. */
function chooseTest(
  input: JudgeInput,
  canary: Map<string, number[]>,
  baseline: Map<string, number[]>,
): Test | Test[] | string {
  const min = JUDGE_MINIMUM;
  if (input.design === 'hosts') {
    const c = [...canary.values()].filter((v) => enough(v, min.readingsPerHost));
    const b = [...baseline.values()].filter((v) => enough(v, min.readingsPerHost));
    if (c.length < 1 || b.length < min.baselineHosts) {
      return (
        `the judge needs ${min.readingsPerHost} readings from each of at least 1 canary and ` +
        `${min.baselineHosts} baseline hosts; it had ${c.length} canary and ${b.length} baseline host(s) with enough`
      );
    }
    return hostMeansTest(c, b);
  }
  const pairs = [...canary]
    .map(([host, during]) => ({ host, during, before: baseline.get(host) ?? [] }))
    .filter((p) => enough(p.during, min.readingsPerHost) && enough(p.before, min.readingsPerHost));
  if (pairs.length >= min.pairedHosts && !canary.has('')) return pairedTest(pairs);
  const series = [...canary]
    .map(([host, during]) => ({ during, before: baseline.get(host) ?? [] }))
    .filter((p) => enough(p.during, min.seriesReadings) && enough(p.before, min.seriesReadings));
  if (series.length === 0) {
    return (
      `the judge needs ${min.readingsPerHost} readings before and during from ${min.pairedHosts} hosts, ` +
      `or ${min.seriesReadings} readings before and during from one series; it had ${pairs.length} host(s) with enough`
    );
  }
  return series.map((s) => seriesTest(s.during, s.before));
}

/** Count and mean of every reading of every host, summed in the order a pooled list would be (no list built). */
function pooled(groups: ReadonlyMap<string, readonly number[]>): { count: number; mean: number } {
  let count = 0;
  let sum = 0;
  for (const g of groups.values()) {
    for (let i = 0; i < g.length; i++) sum += g[i];
    count += g.length;
  }
  return { count, mean: count === 0 ? NaN : sum / count };
}

/** Compares canaries with their baseline for one rule. Too little data is `insufficient`, never a pass. */
export function judge(input: JudgeInput): PreviousComparison {
  const canary = finiteMap(input.canary);
  const baseline = finiteMap(input.baseline);
  const pooledC = pooled(canary);
  const pooledB = pooled(baseline);
  // For a reader only: U from ranks, the shift from a bounded sample at scale (stats.ts), never the decision.
  const mw =
    input.mannWhitney !== false && pooledC.count > 0 && pooledB.count > 0
      ? { mannWhitney: mannWhitney(canary.values(), baseline.values(), input.confidence) }
      : {};
  const chosen = chooseTest(input, canary, baseline);
  const readings = { canary: pooledC.count, baseline: pooledB.count };
  const alpha = 1 - input.confidence;
  if (typeof chosen === 'string') {
    return {
      method: input.design === 'hosts' ? 'host-means' : 'paired-hosts',
      direction: input.direction,
      confidence: input.confidence,
      canary: pooledC.mean,
      baseline: pooledB.mean,
      difference: pooledC.mean - pooledB.mean,
      relative: null,
      t: NaN,
      df: NaN,
      p: NaN,
      significant: false,
      units: { canary: 0, baseline: 0 },
      readings,
      insufficient: chosen,
      ...mw,
    };
  }
  // Several series (one per host, too few hosts to pair): the worst one, Bonferroni-corrected.
  const tests = Array.isArray(chosen) ? chosen : [chosen];
  const scored = tests.map((test) => ({ test, ...tail(test, input.direction) }));
  const worst = scored.reduce((a, b) => (b.p < a.p ? b : a));
  const p = Math.min(1, worst.p * tests.length);
  const { test } = worst;
  return {
    method: test.method,
    direction: input.direction,
    confidence: input.confidence,
    canary: test.canary,
    baseline: test.baseline,
    difference: test.difference,
    relative: test.baseline !== 0 ? (100 * test.difference) / Math.abs(test.baseline) : null,
    t: worst.t,
    df: test.df,
    p,
    significant: p < alpha,
    units: test.units,
    readings,
    ...mw,
  };
}
