import { describe, expect, test } from '@jest/globals';
import { hodgesLehmannShift, mannWhitney, median, normalSf } from '../../src/metrics/stats.js';

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
