// The span of time a rule's reading describes: a rate over `[1m]` read at `at` covers [at − 1m, at]. A volume
// reading under canary-weight is restated at each host's share of requests over that same span (which can start
// before the bake, and before the canary's drain), not over a span of its own.
import { scanPromql } from './sources/expand.js';
import { promqlDurationMs } from './slo.js';

/**
 * The ranges (ms) of a PromQL query's range selectors and subqueries (`x[5m]`, `rate(x[1m])[10m:30s]` → 1m and
 * 10m), in the order written. Brackets inside string literals and `#` comments are not ranges; what is not a
 * duration (a Graphite `web[1-3]`, a JSON path's `[0]`, an unfilled `{window}`) is left out.
 */
export function queryRangesMs(query: string): number[] {
  // Strings blanked out (the one PromQL scanner says where they are), then comments dropped.
  let code = query;
  for (const l of scanPromql(query).literals)
    code = code.slice(0, l.start) + ' '.repeat(l.end - l.start) + code.slice(l.end);
  code = code.replace(/#[^\n]*/g, '');
  const out: number[] = [];
  for (const m of code.matchAll(/\[([^\]]*)\]/g)) {
    const ms = promqlDurationMs(m[1].split(':')[0].trim());
    if (ms !== null && ms > 0) out.push(ms);
  }
  return out;
}

/**
 * How far back a reading of `query` reaches: its largest range (a rate over `[1m]`: 1m), or `intervalMs` when it
 * has none (an openmetrics counter is turned into a rate between two scrapes, one interval apart).
 */
export function rateWindowMs(query: string, intervalMs: number): number {
  const ranges = queryRangesMs(query);
  return ranges.length > 0 ? Math.max(...ranges) : intervalMs;
}
