// Seeded simulations of canary bakes with the noise real metrics have, for the judge's tests and the
// benchmark: many trials of healthy and regressed canaries, and the share the judge fails. Beside it, the
// method the judge replaces (Kayenta's: every reading of every host pooled into one Mann-Whitney test,
// the direction taken from the Hodges-Lehmann shift).
import { harmfulDirection, judge } from '../../src/metrics/judge.js';
import { hodgesLehmannShift, mannWhitneyU } from '../../src/metrics/stats.js';
import type { Direction, Rule } from '../../src/metrics/types.js';

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
 * - counts: whole numbers 0..3 per interval, Binomial(3, 0.2) (an error count, mean 0.6);
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
  if (model === 'counts') {
    const p = Math.min(1, 0.2 * effect);
    return Array.from({ length: n }, () => [0, 1, 2].reduce((k) => k + (random() < p ? 1 : 0), 0));
  }
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
}

export interface Tally {
  trials: number;
  /** Share of trials the judge failed the canary in. */
  judge: number;
  /** Share the pooled Mann-Whitney failed it in. */
  pooled: number;
  /** Share the judge found too little to decide (inconclusive). */
  inconclusive: number;
}

/** Runs `trials` seeded bakes of one scenario through the judge and through the pooled method. */
export function simulate(s: Scenario, trials: number, seed: number): Tally {
  const random = seededRandom(seed);
  let judged = 0;
  let pooled = 0;
  let inconclusive = 0;
  for (let t = 0; t < trials; t++) {
    const canary = Array.from({ length: s.canaries }, () => hostReadings(s.model, s.readings, s.effect, random));
    const baseline = Array.from({ length: s.baselines }, () => hostReadings(s.model, s.readings, 1, random));
    const c = judge({
      direction: s.direction,
      confidence: s.confidence,
      canary: new Map(canary.map((r, i) => [`c${i}`, r])),
      baseline: new Map(baseline.map((r, i) => [`b${i}`, r])),
      design: 'hosts',
      mannWhitney: false,
    });
    if (c.insufficient) inconclusive++;
    else if (c.significant) judged++;
    if (pooledMannWhitneyFails(canary, baseline, s.direction, s.confidence)) pooled++;
  }
  return { trials, judge: judged / trials, pooled: pooled / trials, inconclusive: inconclusive / trials };
}

export const directionOf = (partial: Partial<Rule>): Direction => harmfulDirection(ruleOf(partial));
