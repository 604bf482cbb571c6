// Statistics for canary analysis: Mann-Whitney U (as Kayenta's judge uses) and the Hodges-Lehmann shift.

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
  return { u, z, p, shift: hodgesLehmannShift(canary, baseline), confidence, significant: p < 1 - confidence, n1, n2 };
}
