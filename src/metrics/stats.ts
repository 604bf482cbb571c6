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
  confidence: number;
  /** p < 1 - confidence. */
  significant: boolean;
  n1: number;
  n2: number;
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const s = [...values].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
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
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
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
    for (const aa of [(m * (b - m) * x) / ((a + m2 - 1) * (a + m2)), (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1))]) {
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
  return x < (a + 1) / (a + b + 2) ? (front * betaContinuedFraction(a, b, x)) / a : 1 - (front * betaContinuedFraction(b, a, 1 - x)) / b;
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
        t * (1.00002368 + t * (0.37409196 + t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 + t * (-0.82215223 + t * 0.17087277)))))))),
    );
  return x >= 0 ? r : 2 - r;
}

/** P(Z > z) for a standard normal Z. */
export function normalSf(z: number): number {
  return 0.5 * erfc(z / Math.SQRT2);
}

/** Average ranks (1-based), ties sharing the mean of their ranks; also Σ(t³ - t) over tie groups. */
function rank(values: readonly number[]): { ranks: number[]; tieTerm: number } {
  const order = values.map((v, i) => [v, i] as const).sort((a, b) => a[0] - b[0]);
  const ranks = new Array<number>(values.length);
  let tieTerm = 0;
  for (let i = 0; i < order.length; ) {
    let j = i;
    while (j + 1 < order.length && order[j + 1][0] === order[i][0]) j++;
    const avg = (i + j + 2) / 2;
    for (let k = i; k <= j; k++) ranks[order[k][1]] = avg;
    const t = j - i + 1;
    tieTerm += t * t * t - t;
    i = j + 1;
  }
  return { ranks, tieTerm };
}

export function hodgesLehmannShift(canary: readonly number[], baseline: readonly number[]): number {
  const diffs: number[] = [];
  for (const x of canary) for (const y of baseline) diffs.push(x - y);
  return median(diffs);
}

/**
 * Two-sided Mann-Whitney U test of canary against baseline, normal approximation with tie and
 * continuity correction (the same numbers as scipy.stats.mannwhitneyu(method='asymptotic')).
 */
export function mannWhitney(canary: readonly number[], baseline: readonly number[], confidence = 0.98): MannWhitneyResult {
  const { u, z, p } = mannWhitneyU(canary, baseline);
  return { u, z, p, shift: hodgesLehmannShift(canary, baseline), confidence, significant: p < 1 - confidence, n1: canary.length, n2: baseline.length };
}

/** The U test alone (no shift): U of the canary, signed z, two-sided p. */
export function mannWhitneyU(canary: readonly number[], baseline: readonly number[]): { u: number; z: number; p: number } {
  const n1 = canary.length;
  const n2 = baseline.length;
  if (n1 === 0 || n2 === 0) throw new Error('mann-whitney needs at least one value on each side');
  const { ranks, tieTerm } = rank([...canary, ...baseline]);
  const r1 = ranks.slice(0, n1).reduce((a, b) => a + b, 0);
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
