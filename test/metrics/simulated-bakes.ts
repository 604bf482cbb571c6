// Seeded simulations of canary bakes with the noise real metrics have, for the judge's tests and the
// benchmark: many trials of healthy and regressed canaries, and the share the judge fails. Beside it, the
// method the judge replaces (Kayenta's: every reading of every host pooled into one Mann-Whitney test,
// the direction taken from the Hodges-Lehmann shift).
import { harmfulDirection, judge, JUDGE_MINIMUM } from '../../src/metrics/judge.js';
import { hodgesLehmannShift, mannWhitneyU } from '../../src/metrics/stats.js';
import type { Direction, Rule } from '../../src/metrics/types.js';
import { judge as previousJudge } from '../../bench/previous-judge.js';
import { gapSeries } from '../../src/metrics/watch-baseline.js';

/** mulberry32: small, fast, and the same sequence on every machine. */
export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x6d2b79f5) >>> 0;
    let t = s;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function gaussian(random: () => number): () => number {
  return () => {
    let u = 0;
    while (u === 0) u = random();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * random());
  };
}

/**
 * How a host's readings vary. Level 100, noise sd 10 (10%), unless counts:
 * - independent: every reading independent;
 * - ar1: successive readings correlated, AR(1) with φ = 0.8 (marginal sd 10);
 * - offsets: each host steadily off by 0.3 × the noise sd (one draw per host and bake);
 * - ar1+offsets: both;
 * - counts: an error count per interval, Poisson with mean 0.72;
 * - rare: 0 or 1 per interval, an error in 5% of intervals.
 */
export type NoiseModel = 'independent' | 'ar1' | 'offsets' | 'ar1+offsets' | 'counts' | 'rare';
export const NOISE_MODELS: NoiseModel[] = ['independent', 'ar1', 'offsets', 'ar1+offsets', 'counts', 'rare'];

export interface HostSeries {
  /** Readings over the bake, oldest first. */
  readings: number[];
}

/** One host's readings; `effect` multiplies the level (0.7 = a 30% drop) or the count's rate (2 = doubled). */
export function hostReadings(model: NoiseModel, n: number, effect: number, random: () => number): number[] {
  const normal = gaussian(random);
  if (model === 'counts') return Array.from({ length: n }, () => poisson(random, 0.72 * effect));
  if (model === 'rare') return Array.from({ length: n }, () => (random() < Math.min(1, 0.05 * effect) ? 1 : 0));
  const level = 100 * effect;
  const sd = 10;
  const offset = model === 'offsets' || model === 'ar1+offsets' ? 0.3 * sd * normal() : 0;
  const phi = model === 'ar1' || model === 'ar1+offsets' ? 0.8 : 0;
  let x = sd * normal();
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    if (i > 0) x = phi * x + sd * Math.sqrt(1 - phi * phi) * normal();
    out.push(level + offset + x);
  }
  return out;
}

/** Knuth's method: fine for the small means of error counts. */
function poisson(random: () => number, mean: number): number {
  const limit = Math.exp(-mean);
  let k = 0;
  for (let p = random(); p > limit; p *= random()) k++;
  return k;
}

/** The rule kinds a comparison serves: compare with each direction-giving bound, or alone (either way). */
export const RULE_KINDS: { kind: string; rule: Partial<Rule> }[] = [
  { kind: 'min', rule: { min: -1e9 } },
  { kind: 'max', rule: { max: 1e9 } },
  { kind: 'max-drop', rule: { maxDrop: { kind: 'percent', value: 1e6 } } },
  { kind: 'max-rise', rule: { maxRise: { kind: 'percent', value: 1e6 } } },
  { kind: 'compare only', rule: {} },
];

export function ruleOf(partial: Partial<Rule>, confidence = 0.98): Rule {
  return { name: 'r', query: 'q', for: 1, noData: 'fail', confidence, volume: false, compare: 'baseline', ...partial };
}

/** The method the judge replaces: pooled readings, two-sided Mann-Whitney, direction from the HL shift. */
export function pooledMannWhitneyFails(
  canary: number[][],
  baseline: number[][],
  direction: Direction,
  confidence: number,
): boolean {
  const c = canary.flat();
  const b = baseline.flat();
  if (!(mannWhitneyU(c, b).p < 1 - confidence)) return false;
  if (direction === 'either') return true;
  const shift = hodgesLehmannShift(c, b);
  return direction === 'increase' ? shift > 0 : shift < 0;
}

export interface Scenario {
  model: NoiseModel;
  canaries: number;
  baselines: number;
  readings: number;
  /** Multiplies the canaries' level (or rate, for counts). */
  effect: number;
  direction: Direction;
  confidence: number;
  /** The rule's share of 1 − confidence (falseFailShare); default all of it. */
  alpha?: number;
}

export interface Tally {
  trials: number;
  /** Share of trials the judge failed the canary in (at any look). */
  judge: number;
  /** Median look, as a fraction of the bake's readings, at which the judge failed it (NaN: never). */
  medianAt: number;
  /** Share the judge of release 2 failed it in (one test at the end, at 1 − confidence). */
  previous: number;
  /** Share the pooled Mann-Whitney failed it in. */
  pooled: number;
  /** Share the judge found too little to decide (inconclusive). */
  inconclusive: number;
}

const byKey = (prefix: string, series: number[][], k?: number) =>
  new Map(series.map((r, i) => [`${prefix}${i}`, k === undefined ? r : r.slice(0, k)]));

/** The first `k` readings of every host as the watch's instants, for the watch's own gap builder. */
function instants(canary: number[][], baseline: number[][], k: number) {
  const of = (prefix: string, hosts: number[][]) =>
    hosts.flatMap((h, i) => h.slice(0, k).map((value, t) => ({ t, host: `${prefix}${i}`, value })));
  return [...of('c', canary), ...of('b', baseline)];
}

const CANARIES = { has: (host: string) => host.startsWith('c') };

/** The gap between the canaries' mean and the baseline hosts' mean at each reading, as the watch builds it. */
const gaps = (canary: number[][], baseline: number[][], k: number) =>
  gapSeries(CANARIES, instants(canary, baseline, k));

/**
 * One bake through the judge as the watch runs it: a look after every reading from the judge's minimum on,
 * failing at the first look whose p is at or below its bound. With fewer baseline hosts than the minimum, the
 * hosts' readings before (as many as during) give the difference in differences.
 */
export function judgeBake(
  s: Scenario,
  canary: number[][],
  baseline: number[][],
  before?: { canary: number[][]; baseline: number[][] },
): { fail: boolean; at: number; insufficient: boolean } {
  const gapsBefore = before && gaps(before.canary, before.baseline, before.canary[0].length);
  const small = s.baselines < JUDGE_MINIMUM.baselineHosts;
  const first = small ? JUDGE_MINIMUM.seriesReadings : JUDGE_MINIMUM.readingsPerHost;
  let insufficient = false;
  for (let k = first; k <= s.readings; k++) {
    const c = judge({
      direction: s.direction,
      confidence: s.confidence,
      ...(s.alpha !== undefined ? { alpha: s.alpha } : {}),
      canary: byKey('c', canary, k),
      baseline: byKey('b', baseline, k),
      design: 'hosts',
      ...(gapsBefore ? { gaps: { before: gapsBefore, during: gaps(canary, baseline, k) } } : {}),
      look: { taken: k, planned: s.readings },
      mannWhitney: false,
    });
    insufficient = !!c.insufficient;
    if (c.significant) return { fail: true, at: k / s.readings, insufficient: false };
  }
  return { fail: false, at: NaN, insufficient };
}

/** Release 2's judge: one test at the end of the bake at 1 − confidence (no before: small fleets inconclusive). */
function previousFails(s: Scenario, canary: number[][], baseline: number[][]): boolean {
  return previousJudge({
    direction: s.direction,
    confidence: s.confidence,
    canary: byKey('c', canary),
    baseline: byKey('b', baseline),
    design: 'hosts',
    mannWhitney: false,
  }).significant;
}

/** Runs `trials` seeded bakes of one scenario through the judge, the previous judge and the pooled method. */
export function simulate(s: Scenario, trials: number, seed: number): Tally {
  const random = seededRandom(seed);
  let judged = 0;
  let previous = 0;
  let pooled = 0;
  let inconclusive = 0;
  const at: number[] = [];
  const small = s.baselines < JUDGE_MINIMUM.baselineHosts;
  for (let t = 0; t < trials; t++) {
    // Small fleets: each host's readings before the bake, then during it (one series, the regression at the switch).
    const n = small ? 2 * s.readings : s.readings;
    const canaryAll = Array.from({ length: s.canaries }, () => hostReadings(s.model, n, 1, random));
    const baselineAll = Array.from({ length: s.baselines }, () => hostReadings(s.model, n, 1, random));
    const during = (xs: number[][]) => xs.map((x) => x.slice(n - s.readings));
    const canary = regress(s, during(canaryAll), random);
    const baseline = during(baselineAll);
    const before = small
      ? {
          canary: canaryAll.map((x) => x.slice(0, s.readings)),
          baseline: baselineAll.map((x) => x.slice(0, s.readings)),
        }
      : undefined;
    const v = judgeBake(s, canary, baseline, before);
    if (v.fail) {
      judged++;
      at.push(v.at);
    } else if (v.insufficient) inconclusive++;
    if (previousFails(s, canary, baseline)) previous++;
    if (pooledMannWhitneyFails(canary, baseline, s.direction, s.confidence)) pooled++;
  }
  at.sort((a, b) => a - b);
  return {
    trials,
    judge: judged / trials,
    medianAt: at.length ? at[Math.floor((at.length - 1) / 2)] : NaN,
    previous: previous / trials,
    pooled: pooled / trials,
    inconclusive: inconclusive / trials,
  };
}

/**
 * The canaries' readings during the bake with the scenario's effect: a level scaled from the switch on (the
 * series' own noise kept, so a drop is a drop of the same host), or counts drawn at the scaled rate.
 */
function regress(s: Scenario, canary: number[][], random: () => number): number[][] {
  if (s.effect === 1) return canary;
  if (s.model === 'counts' || s.model === 'rare')
    return canary.map((x) => hostReadings(s.model, x.length, s.effect, random));
  return canary.map((x) => x.map((v) => v * s.effect));
}

export const directionOf = (partial: Partial<Rule>): Direction => harmfulDirection(ruleOf(partial));
