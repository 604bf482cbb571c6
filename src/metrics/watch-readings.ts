// A tick's readings as the rules and the judge see them: non-finite values are no data, volume readings
// are restated at an equal share of requests, and each becomes an observation (and a line of the log).
// An SLO rule is read as its burn rate over the watch so far (its `{window}` filled in before each read).
import { fmt } from './rules.js';
import { rateWindowMs } from './rate-window.js';
import { atWindow, BURN_ALERTS, promDuration, windowMs } from './slo.js';
import type { Reading, Readings } from './sources/types.js';
import type { Observation, Rule } from './types.js';
import { hostName } from './watch-hosts.js';

/** NaN and ±Inf are no data: they must never reach a bound or the judge. */
export function finiteReading(r: Reading | undefined): Reading {
  if (!r) return { value: null, reason: 'not read' };
  if (r.value === null || Number.isFinite(r.value)) return r;
  return { value: null, reason: `the reading is ${r.value} (not a number)` };
}

/**
 * A volume reading at the host's measured share of requests, restated at an equal share
 * (value / (share × hosts)).
 */
export function scaleByShare(value: number, share: number, hosts: number): number {
  return value / (share * hosts);
}

/**
 * The span a reading taken at `at` describes: its rate's own window, [at − range, at] (the query's largest
 * range; one interval when it has none). A volume reading is restated at the share of requests over this span,
 * which may start before the bake, not at a share measured since the bake began.
 */
export function readingWindow(rule: Pick<Rule, 'query'>, at: number, intervalMs: number): { from: number; to: number } {
  return { from: at - rateWindowMs(rule.query, intervalMs), to: at };
}

/** A reading as the judge sees it: a volume reading restated at an equal share keeps what was read. */
export type JudgedReading = Reading & { raw?: number; share?: number };

/** Non-finite readings become no data; volume readings are restated at an equal share of requests. */
export function normalise(readings: Readings, shares: ReadonlyMap<string, number> | null): Map<string, JudgedReading> {
  const out = new Map<string, JudgedReading>();
  const count = shares ? [...shares.values()].filter((s) => s > 0).length : 0;
  for (const [host, r] of readings) {
    const f = finiteReading(r);
    const share = shares?.get(host) ?? shares?.get(hostName(host));
    if (f.value === null || !shares) out.set(host, f);
    else if (share !== undefined && share > 0) {
      out.set(host, { value: scaleByShare(f.value, share, count), raw: f.value, share });
    } else {
      // A host the balancer sent nothing yet has no share to restate its volume at.
      out.set(host, { value: null, reason: `no request reached it at the load balancer yet (read ${fmt(f.value)})` });
    }
  }
  return out;
}

export function observe(
  t: number,
  host: string,
  r: JudgedReading | undefined,
  baseline: number | null | undefined,
): Observation {
  const f = r ?? { value: null, reason: 'not read' };
  return {
    t,
    host,
    value: f.value,
    ...(baseline !== undefined ? { baseline } : {}),
    ...(f.value === null ? { reason: f.reason } : {}),
    ...(f.raw !== undefined ? { raw: f.raw, share: f.share } : {}),
  };
}

/** The log line of one rule's samples at a tick. */
export function tickLine(
  samples: readonly (Observation & { state: string; check?: string; bound?: number })[],
): string {
  return samples
    .map(
      (s) =>
        `${s.host ? `${s.host}=` : ''}${s.value === null ? `no data (${s.reason})` : fmt(s.value)}` +
        `${s.raw !== undefined ? ` (${fmt(s.raw)} at ${fmt((s.share ?? 0) * 100)}% of requests)` : ''}` +
        `${s.baseline !== undefined ? ` vs ${fmt(s.baseline)}` : ''}` +
        `${s.state === 'breach' ? ` BREACH ${s.check} ${fmt(s.bound)}` : ''}`,
    )
    .join(', ');
}

/** The range of a `--once` watch's SLO rules: the short window of the workbook's fastest page alert (5m). */
export const ONCE_SLO_WINDOW_MS = windowMs(BURN_ALERTS[0].short);

/**
 * The range an SLO rule's burn rate is taken over at instant `at`: the watch (or bake) so far, at least one
 * interval; a `--once` watch has no "so far" and takes the page alert's short window.
 */
export function sloWindowMs(t0: number, at: number, intervalMs: number, once: boolean): number {
  return once ? ONCE_SLO_WINDOW_MS : Math.max(intervalMs, at - t0);
}

/**
 * The rule as a source reads it: an SLO rule's `{window}` filled with `rangeMs` (a PromQL duration), so the
 * value is its burn rate over that range; any other rule as it is. No source is ever sent `{window}`.
 */
export function ruleAt(rule: Rule, rangeMs: number): Rule {
  return rule.slo ? { ...rule, query: atWindow(rule.query, rangeMs) } : rule;
}

/** What a tick's log line says before the values: an SLO rule's value is its burn rate over the range. */
export function tickLabel(rule: Rule, rangeMs: number): string {
  return rule.slo ? `burn rate over ${promDuration(rangeMs)}: ` : '';
}
