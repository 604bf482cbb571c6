// SLO rules (pure): the error ratio and burn rate built from a rule's `good`/`errors` and `total` queries, and the
// burn-rate thresholds of Google's SRE workbook ("Alerting on SLOs": multi-window, multi-burn-rate alerts). One
// place for both users of an SLO rule: the watch (a bake fails when the canaries burn faster than the page
// threshold) and the exported Prometheus rules (the same thresholds, over the workbook's windows).
import type { SloObjective } from './types.js';

/** Where a rate's range goes in an SLO rule's queries. */
export const WINDOW_SLOT = '{window}';

/**
 * The workbook's alerts for a 30-day SLO: page when 2% of the budget burns in an hour or 5% in six hours;
 * a ticket when 10% burns in three days. Each has a short window (1/12 of the long one) so the alert
 * resets soon after the burn stops. `budget` is the share of the SLO window's error budget spent over `long`.
 */
export const BURN_ALERTS = [
  { severity: 'page', long: '1h', short: '5m', budget: 0.02 },
  { severity: 'page', long: '6h', short: '30m', budget: 0.05 },
  { severity: 'ticket', long: '3d', short: '6h', budget: 0.1 },
] as const;

const UNIT_MS: Record<string, number> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
  y: 31_536_000_000,
};

/** A PromQL duration (`5m`, `1h30m`, `500ms`) in ms; null when `text` is not one (`{window}`, `0`, `1-3`). */
export function promqlDurationMs(text: string): number | null {
  if (!/^(?:\d+(?:ms|[smhdwy]))+$/.test(text)) return null;
  let ms = 0;
  for (const m of text.matchAll(/(\d+)(ms|[smhdwy])/g)) ms += Number(m[1]) * UNIT_MS[m[2]];
  return ms;
}

/** A duration as promDuration writes it (`30s`, `5m`, `1h`, `3d`), in ms. */
export function windowMs(window: string): number {
  const ms = promqlDurationMs(window);
  if (ms === null) throw new Error(`not a window: ${window}`);
  return ms;
}

/**
 * The burn rate at which `budget` of the SLO window's error budget is spent over `long`: 14.4 for 2% in 1h of
 * 30 days, 6 for 5% in 6h, 1 for 10% in 3d. Other SLO windows keep the same budget shares.
 */
export function burnThreshold(slo: Pick<SloObjective, 'windowMs'>, alert: { long: string; budget: number }): number {
  return round((alert.budget * slo.windowMs) / windowMs(alert.long));
}

/** The burn rate a bake must stay under: the fastest page threshold (14.4 for a 30-day SLO). */
export function pageBurnRate(slo: Pick<SloObjective, 'windowMs'>): number {
  return burnThreshold(slo, BURN_ALERTS[0]);
}

/** The error budget as a ratio: 0.001 for 99.9% (rounded, so 1 - 0.999 is not 0.0010000000000000009). */
export function errorBudget(slo: Pick<SloObjective, 'objective'>): number {
  return round(1 - slo.objective);
}

/** The error ratio over `{window}`: `errors / total`, or `1 - good / total`. */
export function errorRatioQuery(slo: SloObjective): string {
  return slo.errors !== undefined ? `(${slo.errors}) / (${slo.total})` : `1 - (${slo.good}) / (${slo.total})`;
}

/** The burn rate over `{window}`: the error ratio in units of the error budget (1 = spending it exactly). */
export function burnRateQuery(slo: SloObjective): string {
  return `(${errorRatioQuery(slo)}) / ${errorBudget(slo)}`;
}

/** A query with `{window}` filled in, as a PromQL duration (whole seconds, at least 1s). */
export function atWindow(query: string, ms: number): string {
  return query.replaceAll(WINDOW_SLOT, promDuration(ms));
}

/** A PromQL duration in whole seconds (or minutes, hours, days when it divides evenly). */
export function promDuration(ms: number): string {
  const s = Math.max(1, Math.ceil(ms / 1000));
  if (s % 86_400 === 0) return `${s / 86_400}d`;
  if (s % 3600 === 0) return `${s / 3600}h`;
  if (s % 60 === 0) return `${s / 60}m`;
  return `${s}s`;
}

/** `99.9%` from 0.999, as a person wrote it. */
export function objectiveText(slo: Pick<SloObjective, 'objective'>): string {
  return `${round(slo.objective * 100)}%`;
}

const round = (n: number) => Number(n.toPrecision(12));
