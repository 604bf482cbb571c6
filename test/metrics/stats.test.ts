import { describe, expect, test } from '@jest/globals';
import { median } from '../../src/common/stats.js';
import {
  HODGES_LEHMANN_MAX_PAIRS,
  hodgesLehmann,
  hodgesLehmannShift,
  lag1Autocorrelation,
  mannWhitney,
  mannWhitneyU,
  normalSf,
  studentTSf,
} from '../../src/metrics/stats.js';

describe('Mann-Whitney U (two-sided, normal approximation, tie + continuity correction)', () => {
  test('fully separated samples: worked by hand', () => {
    // x = 1..5, y = 6..10: every x is below every y, so U(x) = 0; mean 25/2, variance 5*5*11/12.
    // z = (25 - 12.5 - 0.5) / sqrt(22.9167) = 2.50672; p = 2 * (1 - Phi(2.50672)) = 0.012186.
    const r = mannWhitney([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]);
    expect(r.u).toBe(0);
    expect(Math.abs(r.z)).toBeCloseTo(2.50672, 4);
    expect(r.p).toBeCloseTo(0.0121858, 5); // scipy.stats.mannwhitneyu(..., method='asymptotic') gives 0.012185780
    expect(r.significant).toBe(true); // below 1 - 0.98
    expect(r.shift).toBe(-5); // median of x_i - y_j over the 25 pairs (-9..-1)
  });

  test('with ties (the tie correction matters): matches scipy 0.0254961', () => {
    // Ranks by hand: x has ties at 3, 4, 5, 5, 6 with y; R(x) = 48.5, U = 48.5 - 36 = 12.5.
    const r = mannWhitney([1, 2, 2, 3, 4, 5, 5, 6], [3, 4, 5, 5, 6, 7, 8, 8, 9]);
    expect(r.u).toBe(12.5);
    expect(r.p).toBeCloseTo(0.025496, 5);
    expect(r.significant).toBe(false); // 0.0255 > 0.02 at the default 0.98
    expect(mannWhitney([1, 2, 2, 3, 4, 5, 5, 6], [3, 4, 5, 5, 6, 7, 8, 8, 9], 0.95).significant).toBe(true);
  });

  test('the same distribution: p = 1, shift 0', () => {
    const r = mannWhitney([10, 11, 12, 10, 11, 12, 11], [10, 12, 11, 10, 12, 11, 11]);
    expect(r.u).toBe(24.5);
    expect(r.p).toBe(1);
    expect(r.shift).toBe(0);
  });

  test('every value equal: no variance, p = 1', () => {
    expect(mannWhitney([3, 3, 3], [3, 3]).p).toBe(1);
  });

  test('Hodges-Lehmann shift and the normal tail', () => {
    expect(hodgesLehmannShift([11, 12, 13], [1, 2, 3])).toBe(10);
    expect(normalSf(1.959964)).toBeCloseTo(0.025, 6);
    expect(normalSf(0)).toBeCloseTo(0.5, 7);
  });
});

describe("Student's t", () => {
  // scipy.stats.t.sf(t, df), SciPy 1.17.1.
  test.each([
    [2.0, 2, 0.09175170953613698],
    [4.85, 2, 0.019990164008441016],
    [1.0, 1, 0.25000000000000006],
    [2.6, 6, 0.020331137905760646],
    [0.5, 30.5, 0.31033176195726286],
    [-1.2, 7, 0.8654140315863967],
    [3.3, 12.7, 0.0029564613778717192],
    [10, 3, 0.0010641995292070751],
    [2.05, 1000, 0.020312386555256252],
  ])('P(T > %p) with %p degrees of freedom agrees with SciPy', (t, df, expected) => {
    expect(Math.abs(studentTSf(t, df) - expected) / expected).toBeLessThan(1e-9);
  });
  test('the tails and the lag-1 autocorrelation', () => {
    expect(studentTSf(Infinity, 3)).toBe(0);
    expect(studentTSf(-Infinity, 3)).toBe(1);
    expect(studentTSf(0, 5)).toBeCloseTo(0.5, 12);
    expect(lag1Autocorrelation([[1, 2, 3, 4, 5, 6]])).toBeCloseTo(0.5, 12);
    expect(lag1Autocorrelation([[1, -1, 1, -1, 1, -1]])).toBeCloseTo(-5 / 6, 12);
    expect(lag1Autocorrelation([[3, 3, 3]])).toBe(0);
  });
});

/** The pooled figures as first written (every value ranked one by one; every pair's difference): the reference. */
const reference = {
  u(canary: number[], baseline: number[]) {
    const values = [...canary, ...baseline];
    const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
    const ranks = new Array<number>(values.length);
    let tieTerm = 0;
    for (let i = 0; i < order.length;) {
      let j = i;
      while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
      for (let k = i; k <= j; k++) ranks[order[k][1]] = (i + j + 2) / 2;
      tieTerm += (j - i + 1) ** 3 - (j - i + 1);
      i = j + 1;
    }
    const n1 = canary.length;
    const u = ranks.slice(0, n1).reduce((a, b) => a + b, 0) - (n1 * (n1 + 1)) / 2;
    const n = values.length;
    const variance = ((n1 * baseline.length) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
    return { u, variance };
  },
  shift(canary: number[], baseline: number[]) {
    const diffs: number[] = [];
    for (const x of canary) for (const y of baseline) diffs.push(x - y);
    return median(diffs);
  },
};

/** Seeded values on a coarse grid (many ties), as counts and rounded gauges are. */
function seeded(seed: number, n: number, grid: number, offset = 0): number[] {
  let s = seed;
  return Array.from({ length: n }, () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.floor((s / 2147483648) * grid) + offset;
  });
}

describe('the pooled figures at scale: U from ranks, the shift bounded', () => {
  test('U, z and p equal the one-by-one ranking exactly on small inputs, ties and all', () => {
    for (let seed = 1; seed <= 200; seed++) {
      const c = seeded(seed, 1 + (seed % 17), 2 + (seed % 9), seed % 3);
      const b = seeded(seed * 7 + 1, 1 + (seed % 23), 2 + (seed % 7));
      const { u, variance } = reference.u(c, b);
      const got = mannWhitneyU(c, b);
      expect(got.u).toBe(u);
      if (variance > 0) {
        const mu = (c.length * b.length) / 2;
        expect(got.z).toBe(
          (u < mu ? -1 : 1) * ((Math.max(u, c.length * b.length - u) - mu - 0.5) / Math.sqrt(variance)),
        );
      } else expect(got).toEqual({ u, z: 0, p: 1 });
    }
  });

  test("the shift is every pair's median while the pairs are within the cap: exactly the first figure", () => {
    for (let seed = 1; seed <= 100; seed++) {
      const c = seeded(seed, 1 + (seed % 40), 50).map((x) => x / 10);
      const b = seeded(seed * 3 + 2, 1 + (seed % 31), 50).map((x) => x / 10);
      expect(hodgesLehmannShift(c, b)).toBe(reference.shift(c, b));
      expect(mannWhitney(c, b).shiftSample).toBeUndefined();
    }
  });

  test('over the cap: a deterministic quantile sample of each side, flagged, close to the exact shift', () => {
    const c = seeded(11, 1000, 1000).map((x) => x / 10 + 3);
    const b = seeded(12, 3000, 1000).map((x) => x / 10);
    const exact = reference.shift(c, b);
    const hl = hodgesLehmann(c, b);
    expect(hl).toMatchObject({ sampled: true });
    expect(hl.pairs).toBeLessThanOrEqual(HODGES_LEHMANN_MAX_PAIRS);
    expect(Math.abs(hl.shift - exact)).toBeLessThan(0.2); // on a spread of 100: within a quantile step
    expect(hodgesLehmann([...c].reverse(), b)).toEqual(hl); // the same readings, the same figure
    const mw = mannWhitney(c, b);
    expect(mw.shift).toBe(hl.shift);
    expect(mw.shiftSample).toEqual({ pairs: hl.pairs, of: 3_000_000 });
    expect(mw.u).toBe(reference.u(c, b).u);
  });
});
