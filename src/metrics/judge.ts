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
//   - too few baseline hosts (1 or 2): difference in differences. The gap between the canaries and the
//     other hosts at each reading, during against before; both hosts' offsets and whatever happens to the
//     whole site at once cancel, and the gap is judged as one series.
// The direction comes from the test statistic itself, never from an estimate that ties can make zero.
//
// Error control. A comparison is looked at after every reading of a watch (an anytime-valid test): it fails
// as soon as its p-value is below the bound of that look, and passes only at the end. The bounds are those of
// a Brownian motion watched continuously: P(sup W(t) ≥ c, 0 ≤ t ≤ 1) = 2·P(Z ≥ c) (the reflection principle),
// so with c = z(α/2) a look at information fraction t fails when p ≤ P(Z ≥ c/√t), and the chance that any
// look of a healthy canary fails is at most α however many looks are taken. Successive looks of correlated
// readings are more alike than a Brownian motion's, which only makes crossing rarer. The information
// fraction is the variance of the final mean over that of the mean so far, for the readings' own lag-1
// autocorrelation: an AR(1) series gives most of its information early. α itself is the rule's share of the
// watch's or the rollout's: 1 − confidence split evenly over the deciding compare rules and the bakes
// (falseFailShare), so the whole watch or rollout stops a healthy release at most 1 − confidence of the time.
import type { Comparison, Direction, Rule } from './types.js';
import {
  incompleteBeta,
  lag1Autocorrelation,
  mannWhitney,
  mean,
  normalQuantile,
  normalSf,
  studentTSf,
  variance,
} from './stats.js';

/** What the judge needs before it decides anything; below it the verdict is inconclusive. */
export const JUDGE_MINIMUM = {
  /** Finite readings a host needs to count as a unit. */
  readingsPerHost: 5,
  /** Baseline hosts (with enough readings) against one or more canaries: 3 gives 2 degrees of freedom. */
  baselineHosts: 3,
  /** Hosts with readings both before and during, for a paired comparison; fewer are judged as series. */
  pairedHosts: 3,
  /** Readings of a series in each window (before and during), and of a difference-in-differences gap. */
  seriesReadings: 10,
} as const;

/**
 * The false-fail probability one compare rule may spend in one watch: 1 − confidence split evenly over the
 * watch's deciding compare rules and the rollout's bakes (1 for a standalone watch). A union bound: whatever
 * the rules' and bakes' dependence, a healthy release is stopped by the judge at most 1 − confidence of the time.
 */
export function falseFailShare(rule: Rule, compareRules: number, bakes = 1): number {
  return (1 - rule.confidence) / Math.max(1, compareRules) / Math.max(1, bakes);
}

/** Var(mean of k readings) / Var(reading) for an AR(1) series with lag-1 autocorrelation φ. */
export function meanVarianceFactor(k: number, phi: number): number {
  let s = 1;
  let power = 1;
  for (let j = 1; j < k; j++) {
    power *= phi;
    s += 2 * (1 - j / k) * power;
  }
  return s / k;
}

/**
 * The share of a watch's information `k` of its `planned` readings carry, for autocorrelation φ: the variance
 * of the final comparison over that of this one. A window of readings from before (`before`), compared with,
 * adds the same variance to both.
 */
export function informationFraction(k: number, planned: number, phi: number, before = 0): number {
  if (k >= planned) return 1;
  const fixed = before > 0 ? meanVarianceFactor(before, phi) : 0;
  return Math.min(1, (meanVarianceFactor(planned, phi) + fixed) / (meanVarianceFactor(k, phi) + fixed));
}

/** The p-value a look at information fraction `t` must be at or below to fail, spending at most α in all. */
export function lookBound(alpha: number, t: number): number {
  return normalSf(normalQuantile(alpha / 2) / Math.sqrt(Math.max(t, 1e-9)));
}

/**
 * Lag-1 autocorrelation pooled over series of one process, each centred on its own mean, corrected for the
 * bias of short mean-centred windows (about (1 + 3φ)/n each, Marriott & Pope), kept within [0, 0.95].
 */
export function pooledAutocorrelation(series: readonly (readonly number[])[]): number {
  const used = series.filter((s) => s.length > 2);
  if (used.length === 0) return 0;
  const n = mean(used.map((s) => s.length));
  const raw = lag1Autocorrelation(used);
  let phi = raw;
  for (let i = 0; i < 3; i++) phi = raw + (1 + 3 * phi) / n;
  return Math.min(0.95, Math.max(0, phi));
}

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
  /**
   * Fewer baseline hosts than the minimum: the canaries' mean minus the baseline hosts' mean at each instant
   * both have readings, during the watch and before it (a difference in differences).
   */
  gaps?: { during: readonly number[]; before: readonly number[] };
  /** The false-fail probability this comparison may spend (falseFailShare); default 1 − confidence. */
  alpha?: number;
  /**
   * Where in the watch this comparison looks: readings taken so far (ticks, whether or not each had data) of
   * those planned. Given, it is a look of a sequential test at the information fraction reached; absent, a
   * single look at the end (the readings are all there will be).
   */
  look?: { taken: number; planned: number };
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
  units: { canary: number; baseline: number };
  /** The readings' lag-1 autocorrelation (bias-corrected): how much information the readings so far carry. */
  phi: number;
  /** A series' readings before: a fixed window whose variance is there from the first look on. */
  before?: number;
  /** Counts: the canaries' and baseline's totals over their intervals, for the exact test beside the t test. */
  counts?: { canary: number; baseline: number; canaryShare: number };
}

/** The finite readings; the list itself (not a copy) when all are, as they nearly always are. */
const finite = (xs: readonly number[]): number[] =>
  xs.every((x) => Number.isFinite(x)) ? (xs as number[]) : xs.filter((x) => Number.isFinite(x));

function finiteMap(m: ReadonlyMap<string, readonly number[]>): Map<string, number[]> {
  return new Map([...m].map(([k, v]) => [k, finite(v)]));
}

const allIntegers = (groups: readonly (readonly number[])[]) => groups.every((g) => g.every(Number.isInteger));

/** Within-host variance pooled over units (each around its own mean), and its degrees of freedom. */
function pooledWithin(groups: readonly (readonly number[])[]): { variance: number; df: number } {
  let ss = 0;
  let df = 0;
  for (const g of groups) {
    if (g.length < 2) continue;
    ss += variance(g) * (g.length - 1);
    df += g.length - 1;
  }
  return { variance: df > 0 ? ss / df : 0, df };
}

/**
 * Host means, canaries against baseline hosts (pooled-variance t). Independent readings bound a host mean's
 * variance from below, per side: counts that every baseline host has alike (0 errors each) must not make one
 * canary error look infinitely significant, and a canary at a tenth of the traffic is noisier than its peers.
 * For whole numbers (counts, whose intervals are independent of each other) that floor is the variance
 * itself whenever it exceeds the hosts' spread, and it is known from every reading: its degrees of freedom
 * are the readings', not the hosts' (a t test on host means alone throws that away and loses power). For
 * other readings the floor does not add degrees of freedom: a gauge's readings are correlated, so the hosts'
 * spread is the only honest measure and the test stays as cautious as the number of hosts makes it.
 */
function hostMeansTest(canary: number[][], baseline: number[][]): Test {
  const mc = canary.map(mean);
  const mb = baseline.map(mean);
  const nc = mc.length;
  const nb = mb.length;
  const ss = (xs: number[]) => (xs.length > 1 ? variance(xs) * (xs.length - 1) : 0);
  const between = (ss(mc) + ss(mb)) / (nc + nb - 2);
  const all = [...canary, ...baseline];
  const readingsPerUnit = mean(all.map((g) => g.length));
  const counts = allIntegers(all);
  // Counts: one floor from every host's intervals (under the null hypothesis they share one rate), whose
  // degrees of freedom are the readings'. Otherwise each side's own, at the hosts' degrees of freedom.
  const withinAll = pooledWithin(all);
  const floorC = (counts ? withinAll.variance : pooledWithin(canary).variance) / readingsPerUnit;
  const floorB = (counts ? withinAll.variance : pooledWithin(baseline).variance) / readingsPerUnit;
  const floored = counts && floorC > between;
  return {
    method: 'host-means',
    canary: mean(mc),
    baseline: mean(mb),
    difference: mean(mc) - mean(mb),
    se: Math.sqrt(Math.max(between, floorC) / nc + Math.max(between, floorB) / nb),
    df: floored ? withinAll.df : nc + nb - 2,
    units: { canary: nc, baseline: nb },
    phi: counts ? 0 : pooledAutocorrelation(all),
    ...(counts ? { counts: countTotals(canary, baseline) } : {}),
  };
}

function countTotals(canary: number[][], baseline: number[][]): NonNullable<Test['counts']> {
  const sum = (groups: number[][]) => groups.reduce((a, g) => a + g.reduce((x, y) => x + y, 0), 0);
  const intervals = (groups: number[][]) => groups.reduce((a, g) => a + g.length, 0);
  const ic = intervals(canary);
  return { canary: sum(canary), baseline: sum(baseline), canaryShare: ic / (ic + intervals(baseline)) };
}

/**
 * Counts: the exact conditional test of two Poisson rates. Given N events in all, the canaries' share is
 * Binomial(N, their share of the intervals) when the rates are equal. With few events (an error in 5% of
 * intervals) the t test's normal tails are far from the truth and this is not; the judge takes the larger of
 * the two p-values, so each guards what the other assumes (the t test: hosts whose rates differ).
 */
function exactCountsP(c: NonNullable<Test['counts']>, direction: Direction): number {
  const n = c.canary + c.baseline;
  const atLeast = (x: number) => (x <= 0 ? 1 : incompleteBeta(c.canaryShare, x, n - x + 1));
  const atMost = (x: number) => (x >= n ? 1 : 1 - incompleteBeta(c.canaryShare, x + 1, n - x));
  if (direction === 'increase') return atLeast(c.canary);
  if (direction === 'decrease') return atMost(c.canary);
  return Math.min(1, 2 * Math.min(atLeast(c.canary), atMost(c.canary)));
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
  const floor = pooledWithin([...during, ...before]).variance * (1 / perHost + 1 / perHostBefore);
  return {
    method: 'paired-hosts',
    canary: mean(during.map(mean)),
    baseline: mean(before.map(mean)),
    difference: mean(d),
    se: Math.sqrt(Math.max(between, floor) / n),
    df: n - 1,
    units: { canary: n, baseline: n },
    phi: allIntegers([...during, ...before]) ? 0 : pooledAutocorrelation(during),
  };
}

/**
 * One series, before against during. Each mean's variance is s²/n · (1+φ)/(1-φ) for the series' lag-1
 * autocorrelation φ, whose estimate from short, mean-centred windows is biased low by about (1+3φ)/n per
 * window (Marriott & Pope), so it is corrected for that. Also the difference in differences: the series is
 * then the gap between canaries and baseline hosts at each instant.
 */
function seriesTest(
  during: number[],
  before: number[],
  method: 'series' | 'differences' = 'series',
  // More series of the same process (each host's own readings), for a steadier estimate of φ.
  alike: readonly (readonly number[])[] = [],
): Test {
  const total = during.length + before.length;
  // One series carries its own variance only through φ: an underestimate makes a healthy series look
  // significant, so φ is taken one standard error above its estimate.
  const series = [before, during, ...alike];
  const estimate = pooledAutocorrelation(series);
  const readings = series.reduce((n, xs) => n + xs.length, 0);
  const phi = Math.min(0.95, estimate + Math.sqrt((1 - estimate * estimate) / readings));
  // Var(mean) = σ²·f(n, φ) exactly for AR(1); a mean-centred window's s² is biased low by (1 − f)·n/(n − 1).
  const meanVariance = (xs: number[]) => {
    const f = meanVarianceFactor(xs.length, phi);
    return (variance(xs) * f * (xs.length - 1)) / (xs.length * (1 - f));
  };
  const vd = meanVariance(during);
  const vb = meanVariance(before);
  const effD = 1 / meanVarianceFactor(during.length, phi);
  const effB = 1 / meanVarianceFactor(before.length, phi);
  const welch =
    vd + vb > 0 ? (vd + vb) ** 2 / (vd ** 2 / Math.max(1, effD - 1) + vb ** 2 / Math.max(1, effB - 1)) : total - 2;
  return {
    method,
    canary: mean(during),
    baseline: mean(before),
    difference: mean(during) - mean(before),
    se: Math.sqrt(vd + vb),
    df: Math.max(1, welch),
    units: { canary: Math.round(effD * 10) / 10, baseline: Math.round(effB * 10) / 10 },
    phi,
    before: before.length,
  };
}

/** t and p in the harmful direction; a flat comparison (se 0) is certain either way. */
function tail(test: Test, direction: Direction): { t: number; p: number } {
  const { difference: d, se, df } = test;
  const t = se > 0 ? d / se : d === 0 ? 0 : Math.sign(d) * Infinity;
  const exact = test.counts ? exactCountsP(test.counts, direction) : 0;
  if (direction === 'increase') return { t, p: Math.max(exact, studentTSf(t, df)) };
  if (direction === 'decrease') return { t, p: Math.max(exact, studentTSf(-t, df)) };
  return { t, p: Math.max(exact, Math.min(1, 2 * studentTSf(Math.abs(t), df))) };
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
    if (c.length >= 1 && b.length >= min.baselineHosts) return hostMeansTest(c, b);
    const gaps = input.gaps;
    if (gaps && enough(gaps.during, min.seriesReadings) && enough(gaps.before, min.seriesReadings))
      return seriesTest(finite(gaps.during), finite(gaps.before), 'differences', [...c, ...b]);
    return (
      `the judge needs ${min.readingsPerHost} readings from each of at least 1 canary and ` +
      `${min.baselineHosts} baseline hosts, or with fewer baseline hosts ${min.seriesReadings} instants with ` +
      `readings of both before and during; it had ${c.length} canary and ${b.length} baseline host(s) with enough` +
      (gaps ? `, and ${gaps.before.length} instant(s) before and ${gaps.during.length} during` : ', and none before')
    );
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
export function judge(input: JudgeInput): Comparison {
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
  const alpha = input.alpha ?? 1 - input.confidence;
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
      alpha,
      fraction: NaN,
      bound: NaN,
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
  const { look } = input;
  const fraction = look ? informationFraction(look.taken, look.planned, test.phi, test.before) : 1;
  // A single look spends all of α; a look of a sequential test spends what the reflection bound allows.
  const bound = look ? lookBound(alpha, fraction) : alpha;
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
    alpha,
    fraction,
    bound,
    significant: p <= bound,
    units: test.units,
    readings,
    ...mw,
  };
}
