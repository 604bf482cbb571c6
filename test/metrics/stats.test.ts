import { describe, expect, test } from '@jest/globals';
import { hodgesLehmannShift, lag1Autocorrelation, mannWhitney, median, normalSf, studentTSf } from '../../src/metrics/stats.js';

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
    expect(median([3, 1, 2, 10])).toBe(2.5);
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
