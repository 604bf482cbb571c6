// Statistics for canary analysis: Student's t (the judge's test on independent units), the lag-1
// autocorrelation of a series, and the pooled Mann-Whitney U and Hodges-Lehmann shift that Kayenta uses
// (reported for a reader, never deciding on their own: they treat correlated readings as independent).

export interface MannWhitneyResult {
  /** U of the first sample (canary): pairs where canary > baseline, ties counting one half. */
  u: number;
  /** Normal-approximation z (with continuity and tie correction); 0 when every value is equal. */
  z: number;
  /** Two-sided p-value. */
  p: number;
  /** Hodges-Lehmann estimate of canary minus baseline: the median of all pairwise differences. */
  shift: number;
  /**
   * Set when `shift` is the median over a deterministic quantile sample of each side rather than over every
   * pair (more than HODGES_LEHMANN_MAX_PAIRS pairs): how many pairs it used, of how many.
   */
  shiftSample?: { pairs: number; of: number };
  confidence: number;
  /** p < 1 - confidence. */
  significant: boolean;
  n1: number;
  n2: number;
}

export function mean(values: readonly number[]): number {
  return values.length === 0 ? NaN : values.reduce((a, b) => a + b, 0) / values.length;
}

/** Sample variance (n - 1); NaN below two values. */
export function variance(values: readonly number[]): number {
  if (values.length < 2) return NaN;
  const m = mean(values);
  return values.reduce((s, x) => s + (x - m) * (x - m), 0) / (values.length - 1);
}

/**
 * Lag-1 autocorrelation of several series of one process, each centred on its own mean (the sums are
 * pooled, so short windows share one estimate). 0 when the series are flat.
 */
export function lag1Autocorrelation(series: readonly (readonly number[])[]): number {
  let num = 0;
  let den = 0;
  for (const xs of series) {
    const m = mean(xs);
    for (let i = 0; i < xs.length; i++) {
      den += (xs[i] - m) * (xs[i] - m);
      if (i > 0) num += (xs[i] - m) * (xs[i - 1] - m);
    }
  }
  return den > 0 ? num / den : 0;
}

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9): relative error below 1e-13. */
function lnGamma(x: number): number {
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  x -= 1;
  let a = c[0];
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

/** Continued fraction of the incomplete beta (modified Lentz, as Numerical Recipes' betacf). */
function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  d = 1 / (Math.abs(d) < tiny ? tiny : d);
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    for (const aa of [
      (m * (b - m) * x) / ((a + m2 - 1) * (a + m2)),
      (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1)),
    ]) {
      d = 1 + aa * d;
      d = 1 / (Math.abs(d) < tiny ? tiny : d);
      c = 1 + aa / c;
      if (Math.abs(c) < tiny) c = tiny;
      h *= d * c;
    }
    if (Math.abs(d * c - 1) < 1e-15) break;
  }
  return h;
}

/** The regularized incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  if (x <= 0) return 0;
  if (x >= 1) return 1;
  const front = Math.exp(lnGamma(a + b) - lnGamma(a) - lnGamma(b) + a * Math.log(x) + b * Math.log(1 - x));
  return x < (a + 1) / (a + b + 2)
    ? (front * betaContinuedFraction(a, b, x)) / a
    : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
}

/** P(T > t) for Student's t with `df` degrees of freedom (df may be fractional, as Welch's is). */
export function studentTSf(t: number, df: number): number {
  if (Number.isNaN(t) || !(df > 0)) return NaN;
  if (t === Infinity) return 0;
  if (t === -Infinity) return 1;
  const tail = 0.5 * incompleteBeta(df / (df + t * t), df / 2, 0.5);
  return t >= 0 ? tail : 1 - tail;
}

/** erfc by W. J. Cody's rational Chebyshev form (Numerical Recipes' erfcc): relative error below 1.2e-7. */
function erfc(x: number): number {
  const z = Math.abs(x);
  const t = 1 / (1 + 0.5 * z);
  const r =
    t *
    Math.exp(
      -z * z -
        1.26551223 +
        t *
          (1.00002368 +
            t *
              (0.37409196 +
                t *
                  (0.09678418 +
                    t *
                      (-0.18628806 +
                        t *
                          (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** P(Z > z) for a standard normal Z. */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/**
 * z with P(Z > z) = p for a standard normal Z (P. J. Acklam's rational approximation: relative error below
 * 1.2e-9), for the judge's look bounds.
 */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) return p <= 0 ? Infinity : -Infinity;
  const a = [
    -39.69683028665376, 220.9460984245205, -275.9285104469687, 138.357751867269, -30.66479806614716, 2.506628277459239,
  ];
  const b = [-54.47609879822406, 161.5858368580409, -155.6989798598866, 66.80131188771972, -13.28068155288572];
  const c = [
    -0.007784894002430293, -0.3223964580411365, -2.400758277161838, -2.549732539343734, 4.374664141464968,
    2.938163982698783,
  ];
  const d = [0.007784695709041462, 0.3224671290700398, 2.445134137142996, 3.754408661907416];
  // Lower-tail quantile of q = 1 - p, then negated: z(p) = -Φ⁻¹(p).
  const q = p;
  const low = 0.02425;
  let x: number;
  if (q < low) {
    const r = Math.sqrt(-2 * Math.log(q));
    x =
      (((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) /
      ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1);
  } else if (q <= 1 - low) {
    const r = q - 0.5;
    const r2 = r * r;
    x =
      ((((((a[0] * r2 + a[1]) * r2 + a[2]) * r2 + a[3]) * r2 + a[4]) * r2 + a[5]) * r) /
      (((((b[0] * r2 + b[1]) * r2 + b[2]) * r2 + b[3]) * r2 + b[4]) * r2 + 1);
  } else {
    const r = Math.sqrt(-2 * Math.log(1 - q));
    x =
      -(((((c[0] * r + c[1]) * r + c[2]) * r + c[3]) * r + c[4]) * r + c[5]) /
      ((((d[0] * r + d[1]) * r + d[2]) * r + d[3]) * r + 1);
  }
  // x = Φ⁻¹(p), the lower-tail quantile; the upper-tail one is its negation (+ 0: never -0).
  return -x + 0;
}

/** Values (or groups of values, pooled) as a sorted typed array, NaN left out: 8 bytes a value, no comparator calls. */
function sortedCopy(values: readonly number[] | Iterable<readonly number[]>): Float64Array {
  let a: Float64Array;
  if (Array.isArray(values) && (values.length === 0 || typeof values[0] === 'number'))
    a = Float64Array.from(values as readonly number[]);
  else {
    const groups = [...(values as Iterable<readonly number[]>)];
    a = new Float64Array(groups.reduce((n, g) => n + g.length, 0));
    let k = 0;
    for (const g of groups) for (let i = 0; i < g.length; i++) a[k++] = g[i];
  }
  a.sort();
  let end = a.length;
  while (end > 0 && Number.isNaN(a[end - 1])) end--;
  return end === a.length ? a : a.subarray(0, end);
}

/**
 * The canary's rank sum (average ranks for ties) and Σ(t³ - t) over tie groups, by merging the two sorted
 * sides: O(n log n) for the sorts, O(n) for the merge, 8 bytes a reading. The same numbers as ranking the
 * pooled values one by one (ranks are whole or half numbers, so their sums are exact).
 */
function rankSum(c: Float64Array, b: Float64Array): { r1: number; tieTerm: number } {
  let i = 0;
  let j = 0;
  let below = 0;
  let r1 = 0;
  let tieTerm = 0;
  while (i < c.length || j < b.length) {
    const v = j >= b.length || (i < c.length && c[i] <= b[j]) ? c[i] : b[j];
    let inC = 0;
    let inB = 0;
    while (i < c.length && c[i] === v) {
      i++;
      inC++;
    }
    while (j < b.length && b[j] === v) {
      j++;
      inB++;
    }
    const t = inC + inB;
    r1 += inC * (below + (t + 1) / 2);
    tieTerm += t * t * t - t;
    below += t;
  }
  return { r1, tieTerm };
}

/**
 * At most this many pairwise differences go into the Hodges-Lehmann shift (8 bytes each). Above it, the
 * shift is the median of differences between evenly spaced order statistics of each side (a deterministic
 * quantile sample: the same readings give the same figure), which tracks the exact shift to within about
 * one quantile step. The figure is for a reader only; it never decides.
 */
export const HODGES_LEHMANN_MAX_PAIRS = 250_000;

export interface HodgesLehmann {
  /** Median of canary − baseline over the pairs used. */
  shift: number;
  /** Pairs the median was taken over; `sampled` when fewer than every pair (n1 × n2). */
  pairs: number;
  sampled: boolean;
}

/** `k` evenly spaced order statistics of a sorted array (the middle of each of k equal slices). */
function quantileSample(sorted: Float64Array, k: number): Float64Array {
  if (k >= sorted.length) return sorted;
  const out = new Float64Array(k);
  for (let i = 0; i < k; i++) out[i] = sorted[Math.floor(((i + 0.5) * sorted.length) / k)];
  return out;
}

function hodgesLehmannSorted(c: Float64Array, b: Float64Array, maxPairs: number): HodgesLehmann {
  const n1 = c.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) return { shift: NaN, pairs: 0, sampled: false };
  let x = c;
  let y = b;
  const sampled = n1 * n2 > maxPairs;
  if (sampled) {
    // The smaller side keeps up to √maxPairs values, the larger side what the cap leaves.
    const small = Math.min(n1, n2);
    const kSmall = Math.max(1, Math.min(small, Math.floor(Math.sqrt(maxPairs))));
    const kLarge = Math.max(1, Math.floor(maxPairs / kSmall));
    x = quantileSample(c, n1 <= n2 ? kSmall : Math.min(n1, kLarge));
    y = quantileSample(b, n1 <= n2 ? Math.min(n2, kLarge) : kSmall);
  }
  const diffs = new Float64Array(x.length * y.length);
  let k = 0;
  for (let i = 0; i < x.length; i++) for (let j = 0; j < y.length; j++) diffs[k++] = x[i] - y[j];
  diffs.sort();
  const mid = diffs.length >> 1;
  const shift = diffs.length % 2 ? diffs[mid] : (diffs[mid - 1] + diffs[mid]) / 2;
  return { shift, pairs: diffs.length, sampled };
}

/**
 * Hodges-Lehmann estimate of canary minus baseline: the median of every pairwise difference while there
 * are at most `maxPairs` of them, else of a deterministic quantile sample of each side (`sampled`).
 * Bounded either way: O(n log n) time and at most `maxPairs` differences in memory.
 */
export function hodgesLehmann(
  canary: readonly number[],
  baseline: readonly number[],
  maxPairs = HODGES_LEHMANN_MAX_PAIRS,
): HodgesLehmann {
  return hodgesLehmannSorted(sortedCopy(canary), sortedCopy(baseline), maxPairs);
}

export function hodgesLehmannShift(
  canary: readonly number[],
  baseline: readonly number[],
  maxPairs = HODGES_LEHMANN_MAX_PAIRS,
): number {
  return hodgesLehmann(canary, baseline, maxPairs).shift;
}

/**
 * Two-sided Mann-Whitney U test of canary against baseline, normal approximation with tie and
 * continuity correction (the same numbers as scipy.stats.mannwhitneyu(method='asymptotic')), with the
 * Hodges-Lehmann shift (from a quantile sample above HODGES_LEHMANN_MAX_PAIRS pairs: `shiftSample`).
 * Both sides are sorted once; U comes from ranks, never from pairs. Each side is a list of values, or
 * groups of values (one per host) pooled without building the pooled list.
 */
export function mannWhitney(
  canary: readonly number[] | Iterable<readonly number[]>,
  baseline: readonly number[] | Iterable<readonly number[]>,
  confidence = 0.98,
): MannWhitneyResult {
  const c = sortedCopy(canary);
  const b = sortedCopy(baseline);
  const { u, z, p } = uTest(c, b);
  const hl = hodgesLehmannSorted(c, b, HODGES_LEHMANN_MAX_PAIRS);
  return {
    u,
    z,
    p,
    shift: hl.shift,
    ...(hl.sampled ? { shiftSample: { pairs: hl.pairs, of: c.length * b.length } } : {}),
    confidence,
    significant: p < 1 - confidence,
    n1: c.length,
    n2: b.length,
  };
}

/** The U test alone (no shift): U of the canary, signed z, two-sided p. Finite values only. */
export function mannWhitneyU(
  canary: readonly number[],
  baseline: readonly number[],
): { u: number; z: number; p: number } {
  return uTest(sortedCopy(canary), sortedCopy(baseline));
}

function uTest(c: Float64Array, b: Float64Array): { u: number; z: number; p: number } {
  const n1 = c.length;
  const n2 = b.length;
  if (n1 === 0 || n2 === 0) throw new Error('mann-whitney needs at least one value on each side');
  const { r1, tieTerm } = rankSum(c, b);
  const u = r1 - (n1 * (n1 + 1)) / 2;
  const n = n1 + n2;
  const mu = (n1 * n2) / 2;
  const variance = ((n1 * n2) / 12) * (n + 1 - tieTerm / (n * (n - 1)));
  let z = 0;
  let p = 1;
  if (variance > 0) {
    const uMax = Math.max(u, n1 * n2 - u);
    z = (uMax - mu - 0.5) / Math.sqrt(variance);
    p = Math.min(1, 2 * normalSf(z));
    if (u < mu) z = -z;
  }
  return { u, z, p };
}
