// Statistics every part of fivestep reads the same way (metrics/stats.ts has the canary judge's own).

/**
 * The middle value of `values` (the mean of the two middle ones for an even count); NaN for none, as
 * there is no middle of nothing: a caller that shows a median checks for an empty list first.
 */
export function median(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
