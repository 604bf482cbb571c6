// The canary judge: host means as the unit, the direction from the test, a stated minimum, no NaN.
import { describe, expect, test } from '@jest/globals';
import {
  falseFailShare,
  informationFraction,
  JUDGE_MINIMUM,
  judge,
  lookBound,
  meanVarianceFactor,
  type JudgeInput,
} from '../../src/metrics/judge.js';
import { normalQuantile } from '../../src/metrics/stats.js';
import { NOISE_MODELS, RULE_KINDS, directionOf, gaussian, seededRandom, simulate } from './simulated-bakes.js';

const hosts = (prefix: string, series: number[][]) => new Map(series.map((s, i) => [`${prefix}${i + 1}`, s]));
/** `k` intervals with one event among `n`, the rest none. */
const events = (k: number, n = 20) => Array.from({ length: n }, (_, i) => (i < k ? 1 : 0));
const run = (input: Partial<JudgeInput> & Pick<JudgeInput, 'canary' | 'baseline'>) =>
  judge({ direction: 'increase', confidence: 0.98, design: 'hosts', ...input });

describe('the judge on what fooled the pooled Mann-Whitney', () => {
  test('a real regression on tied data fails: 8 error intervals of 20 on the canary, 1 of 20 on each of 7 hosts', () => {
    const c = run({
      canary: hosts('c', [events(8)]),
      baseline: hosts(
        'b',
        Array.from({ length: 7 }, () => events(1)),
      ),
    });
    // Ties make the Hodges-Lehmann shift 0, which let the old direction check pass this canary.
    expect(c.mannWhitney!.shift).toBe(0);
    expect(c.mannWhitney!.significant).toBe(true);
    expect(c).toMatchObject({
      method: 'host-means',
      significant: true,
      canary: 0.4,
      units: { canary: 1, baseline: 7 },
    });
    expect(c.baseline).toBeCloseTo(0.05, 12);
    expect(c.t).toBeGreaterThan(0);
  });

  test('one error on the canary against none elsewhere is not a regression', () => {
    const c = run({
      canary: hosts('c', [events(1)]),
      baseline: hosts(
        'b',
        Array.from({ length: 7 }, () => events(0)),
      ),
    });
    expect(c.significant).toBe(false);
  });

  test('4 readings a side, the canary above every baseline value: inconclusive, not pass', () => {
    const c = run({
      canary: hosts('c', [[9, 9, 9, 9]]),
      baseline: hosts('b', [
        [1, 2, 3, 4],
        [1, 2, 3, 4],
        [2, 3, 4, 5],
      ]),
    });
    expect(c.significant).toBe(false);
    expect(c.insufficient).toBe(
      'the judge needs 5 readings from each of at least 1 canary and 3 baseline hosts, or with fewer baseline ' +
        'hosts 10 instants with readings of both before and during; it had 0 canary and 0 baseline host(s) with ' +
        'enough, and none before',
    );
  });

  test('NaN and ±Inf are no data: dropped before counting, never compared', () => {
    const c = run({
      canary: hosts('c', [[10, NaN, 11, Infinity, 10, 12, -Infinity, 11]]),
      baseline: hosts('b', [
        [10, 11, 12, 10, 11],
        [11, 10, 12, 11, 10],
        [12, 11, 10, 10, 11],
      ]),
    });
    expect(c.readings).toEqual({ canary: 5, baseline: 15 });
    expect(Number.isFinite(c.t)).toBe(true);
    expect(c.significant).toBe(false);
  });

  test('the direction comes from the test: a clear rise fails a rise-guarding rule, never a drop-guarding one', () => {
    const input = {
      canary: hosts('c', [[30, 31, 29, 30, 31]]),
      baseline: hosts('b', [
        [10, 11, 9, 10, 11],
        [12, 11, 13, 12, 11],
        [9, 10, 11, 10, 9],
      ]),
    };
    expect(run({ ...input, direction: 'increase' }).significant).toBe(true);
    expect(run({ ...input, direction: 'decrease' })).toMatchObject({ significant: false });
    expect(run({ ...input, direction: 'decrease' }).p).toBeGreaterThan(0.99);
    expect(run({ ...input, direction: 'either' }).significant).toBe(true);
  });
});

describe('designs', () => {
  test('before: each host against its own earlier readings (paired), its steady offset cancelling', () => {
    // Three hosts steadily apart (90, 100, 110); each loses 20 during the watch.
    const before = hosts('h', [
      [100, 101, 99, 100, 102],
      [110, 112, 108, 111, 109],
      [90, 91, 89, 90, 90],
    ]);
    const during = hosts('h', [
      [80, 81, 79, 80, 81],
      [90, 91, 89, 92, 88],
      [70, 71, 69, 70, 70],
    ]);
    const c = judge({ direction: 'decrease', confidence: 0.98, canary: during, baseline: before, design: 'before' });
    expect(c).toMatchObject({ method: 'paired-hosts', significant: true, units: { canary: 3, baseline: 3 } });
    expect(c.relative).toBeCloseTo(-20, 0);
  });

  test('before: one series (a query not per host) is judged with its autocorrelation', () => {
    const wave = (n: number, level: number) => Array.from({ length: n }, (_, i) => level + 5 * Math.sin(i / 3));
    const same = judge({
      direction: 'decrease',
      confidence: 0.98,
      canary: new Map([['', wave(20, 100)]]),
      baseline: new Map([['', wave(40, 100)]]),
      design: 'before',
    });
    expect(same.method).toBe('series');
    expect(same.units.canary).toBeLessThan(20); // a slow wave is far fewer than 20 independent readings
    const fell = judge({
      direction: 'decrease',
      confidence: 0.98,
      canary: new Map([['', wave(20, 60)]]),
      baseline: new Map([['', wave(40, 100)]]),
      design: 'before',
    });
    expect(fell).toMatchObject({ method: 'series', significant: true });
    const short = judge({
      direction: 'decrease',
      confidence: 0.98,
      canary: new Map([['', wave(9, 60)]]),
      baseline: new Map([['', wave(40, 100)]]),
      design: 'before',
    });
    expect(short.insufficient).toMatch(/or 10 readings before and during from one series/);
  });

  test('the stated minimum', () => {
    expect(JUDGE_MINIMUM).toEqual({ readingsPerHost: 5, baselineHosts: 3, pairedHosts: 3, seriesReadings: 10 });
    const two = run({
      canary: hosts('c', [[9, 9, 9, 9, 9]]),
      baseline: hosts('b', [
        [1, 2, 3, 4, 5],
        [1, 2, 3, 4, 5],
      ]),
    });
    expect(two.insufficient).toMatch(/it had 1 canary and 2 baseline host\(s\) with enough/);
  });
});

describe('calibration and power over seeded simulated bakes (the benchmark runs 1,000 trials a scenario)', () => {
  // 300 trials a scenario keeps this file fast. A bound that holds at 2% fails at most about 2% + 2 standard
  // errors (0.8%) of 300 trials; the judge's own figures sit well inside, so only a broken bound crosses 3%.
  test.each(NOISE_MODELS)(
    'healthy canaries under %s noise, every rule kind, 1+1, 1+2, 1+3 and 1+7 hosts, looked at after every reading: at most 3%% fail',
    (model) => {
      for (const baselines of [1, 2, 3, 7]) {
        for (const { rule } of RULE_KINDS) {
          const r = simulate(
            { model, canaries: 1, baselines, readings: 20, effect: 1, direction: directionOf(rule), confidence: 0.98 },
            300,
            11,
          );
          expect(r.judge).toBeLessThanOrEqual(0.03);
        }
      }
    },
  );

  test('correlated readings: the pooled Mann-Whitney fails a healthy canary far more often than promised; the judge does not', () => {
    const r = simulate(
      { model: 'ar1', canaries: 1, baselines: 7, readings: 20, effect: 1, direction: 'either', confidence: 0.98 },
      300,
      5,
    );
    expect(r.pooled).toBeGreaterThan(0.25);
    expect(r.judge).toBeLessThanOrEqual(0.03);
  });

  test('a 30% drop on 1+7 hosts under AR(1): caught in at least 90% of bakes, half of them by 60% of the bake', () => {
    const r = simulate(
      { model: 'ar1', canaries: 1, baselines: 7, readings: 20, effect: 0.7, direction: 'decrease', confidence: 0.98 },
      300,
      7,
    );
    expect(r.judge).toBeGreaterThanOrEqual(0.9);
    expect(r.medianAt).toBeLessThanOrEqual(0.6);
  });

  test('3-VM fleets: a 30% drop on 1+2 hosts is caught by the difference in differences, where the old judge had no verdict', () => {
    const r = simulate(
      { model: 'ar1', canaries: 1, baselines: 2, readings: 20, effect: 0.7, direction: 'decrease', confidence: 0.98 },
      300,
      7,
    );
    expect(r.previous).toBe(0);
    expect(r.judge).toBeGreaterThanOrEqual(0.2);
  });

  test('a doubled error count (Poisson 0.72 → 1.44, 1+7) is caught in at least 60% of bakes, more than release 2', () => {
    const r = simulate(
      { model: 'counts', canaries: 1, baselines: 7, readings: 20, effect: 2, direction: 'increase', confidence: 0.98 },
      300,
      9,
    );
    expect(r.judge).toBeGreaterThanOrEqual(0.6);
    expect(r.judge).toBeGreaterThan(r.previous);
  });
});

describe('the sequential bound', () => {
  test('a single look spends α; the last of many looks spends α/2, earlier ones less (reflection principle)', () => {
    expect(lookBound(0.02, 1)).toBeCloseTo(0.01, 6);
    expect(lookBound(0.02, 0.25)).toBeLessThan(0.0002);
    // P(sup W ≥ c) over [0, 1] = 2 P(Z ≥ c): simulated Brownian paths on a fine grid cross at most α.
    const random = seededRandom(3);
    const normal = gaussian(random);
    const c = normalQuantile(0.01);
    let crossed = 0;
    for (let i = 0; i < 4000; i++) {
      let w = 0;
      for (let k = 1; k <= 200; k++) {
        w += normal() * Math.sqrt(1 / 200);
        if (w >= c) {
          crossed++;
          break;
        }
      }
    }
    expect(crossed / 4000).toBeLessThanOrEqual(0.02);
    expect(crossed / 4000).toBeGreaterThan(0.012);
  });

  test('an AR(1) series gives most of its information early; counts (φ 0) in proportion to their readings', () => {
    expect(informationFraction(10, 20, 0)).toBeCloseTo(0.5, 12);
    expect(informationFraction(10, 20, 0.8)).toBeGreaterThan(0.6);
    expect(informationFraction(20, 20, 0.8)).toBe(1);
    expect(meanVarianceFactor(1, 0.5)).toBe(1);
    expect(meanVarianceFactor(2, 0.5)).toBeCloseTo((2 + 2 * 0.5) / 4, 12);
  });

  test('the false-fail budget is split over compare rules and bakes', () => {
    const rule = { confidence: 0.98 } as Parameters<typeof falseFailShare>[0];
    expect(falseFailShare(rule, 2, 2)).toBeCloseTo(0.005, 12);
    expect(falseFailShare(rule, 0)).toBeCloseTo(0.02, 12);
  });
});
