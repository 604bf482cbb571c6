// Each host's share of the requests over any span of time, from readings of requestCounts() taken over time:
// before wave 1's hosts are drained, at each change of the balancer, at each reading of the bake. A volume rule
// read at `at` as a rate over `[1m]` is then restated at the share over [at − 1m, at], the span its rate covers,
// even where that span starts before the bake (the drain transient: the canary got nothing while drained).
import { LoadBalancerError, type RequestCounts, type TrafficShares } from './types.js';

/** A reading of requestCounts() and when it was taken (ms). */
export interface TimedCounts {
  t: number;
  counts: RequestCounts;
}

/** A span of time, [from, to] in ms. */
export interface TimeWindow {
  from: number;
  to: number;
}

/**
 * Per host and in total, the amount counted up to each reading, as a piecewise-linear function of time: measured
 * readings are the counters themselves; configured ones (nginx) become "time at full traffic", each reading's
 * weights holding since the reading before (the readings are taken just before each change).
 */
interface Cumulative {
  hosts: string[];
  t: number[];
  /** Per reading: each host's amount, then the total (requests, or weight × time). */
  values: number[][];
  /** The rates before the first reading and after the last, per column; undefined where unknown. */
  before?: number[];
  after?: number[];
}

function cumulative(series: readonly TimedCounts[]): Cumulative {
  const sorted = [...series].sort((a, b) => a.t - b.t);
  // Two readings at one instant: the later one.
  const readings = sorted.filter((r, i) => i === sorted.length - 1 || sorted[i + 1].t !== r.t);
  const measured = readings[0].counts.measured;
  if (readings.some((r) => r.counts.measured !== measured))
    throw new LoadBalancerError('cannot take shares over measured and configured readings together');
  const hosts = Object.keys(readings[readings.length - 1].counts.byHost);
  const t = readings.map((r) => r.t);
  const row = (r: TimedCounts) => hosts.map((h) => r.counts.byHost[h] ?? 0);
  const withTotal = (xs: number[]) => [...xs, xs.reduce((a, b) => a + b, 0)];
  if (measured) {
    const values = readings.map((r) => withTotal(row(r)));
    const slope = (i: number) => values[i].map((v, k) => (v - values[i - 1][k]) / (t[i] - t[i - 1]));
    const n = readings.length;
    return { hosts, t, values, ...(n > 1 ? { before: slope(1), after: slope(n - 1) } : {}) };
  }
  // Configured: each host's fraction of the weight in rotation, then the total weight, per ms.
  const rates = readings.map((r) => {
    const w = row(r);
    const total = w.reduce((a, b) => a + b, 0);
    return [...w.map((x) => (total > 0 ? x / total : 0)), total];
  });
  const values = [rates[0].map(() => 0)];
  for (let i = 1; i < readings.length; i++)
    values.push(values[i - 1].map((v, k) => v + rates[i][k] * (t[i] - t[i - 1])));
  return { hosts, t, values, before: rates[0], after: rates[rates.length - 1] };
}

/** The amounts at `at`; outside the readings the nearest interval's rates go on (null where none is known). */
function valuesAt(c: Cumulative, at: number): number[] | null {
  const last = c.t.length - 1;
  if (at <= c.t[0])
    return at === c.t[0] ? c.values[0] : (c.before?.map((r, k) => c.values[0][k] - r * (c.t[0] - at)) ?? null);
  if (at >= c.t[last]) return c.after?.map((r, k) => c.values[last][k] + r * (at - c.t[last])) ?? null;
  const i = c.t.findIndex((x) => x >= at);
  const f = (at - c.t[i - 1]) / (c.t[i] - c.t[i - 1]);
  return c.values[i].map((v, k) => c.values[i - 1][k] + f * (v - c.values[i - 1][k]));
}

/** A counter went backwards somewhere [from, to] draws on (haproxy restarted or reloaded, which zeroes it). */
function wentBack(c: Cumulative, from: number, to: number): boolean {
  const last = c.t.length - 1;
  const down = (xs: number[] | undefined) => xs?.some((x) => x < 0) ?? false;
  if ((from < c.t[0] && down(c.before)) || (to > c.t[last] && down(c.after))) return true;
  for (let i = 1; i <= last; i++) {
    if (c.t[i] <= from || c.t[i - 1] >= to) continue;
    if (c.values[i].some((v, k) => v < c.values[i - 1][k])) return true;
  }
  return false;
}

/**
 * Each host's share of the requests over [from, to], from readings taken over time (any order). Between two
 * readings the counters are taken to grow evenly; before the first reading and after the last, at the rates of
 * the first and last intervals (the first reading is taken before the balancer is changed: it was as found until
 * then). Configured readings (nginx: weights, not traffic) give the weights' shares averaged over the span, each
 * reading's weights holding since the reading before. `total`: the requests in the span (interpolated), or the
 * mean weight in rotation. The hosts are the latest reading's. Null when the span cannot be split: empty, not
 * covered by the readings, nothing counted in it, or a counter went backwards in it.
 */
export function sharesOver(series: readonly TimedCounts[], from: number, to: number): TrafficShares | null {
  if (series.length === 0 || !(to > from)) return null;
  const c = cumulative(series);
  const start = valuesAt(c, from);
  const end = valuesAt(c, to);
  if (!start || !end || wentBack(c, from, to)) return null;
  const grown = c.hosts.map((_, k) => Math.max(0, end[k] - start[k]));
  const sum = grown.reduce((a, b) => a + b, 0);
  if (!(sum > 0)) return null;
  const measured = series[0].counts.measured;
  const totalGrowth = end[c.hosts.length] - start[c.hosts.length];
  const share: Record<string, number> = {};
  c.hosts.forEach((h, k) => (share[h] = grown[k] / sum));
  return { measured, total: measured ? totalGrowth : totalGrowth / (to - from), share };
}

/**
 * Readings kept in time order, at most `cap`: once full, a new reading replaces the latest, so the earliest
 * (from before the drain) stay and the newest is always there.
 */
export class RequestSeries {
  private readonly readings: TimedCounts[] = [];

  constructor(private readonly cap = 512) {}

  get full(): boolean {
    return this.readings.length >= this.cap;
  }

  get latest(): TimedCounts | undefined {
    return this.readings[this.readings.length - 1];
  }

  add(reading: TimedCounts): void {
    if (this.full) this.readings.pop();
    let i = this.readings.length;
    while (i > 0 && this.readings[i - 1].t > reading.t) i--;
    this.readings.splice(i, 0, reading);
  }

  all(): readonly TimedCounts[] {
    return this.readings;
  }

  sharesOver(from: number, to: number): TrafficShares | null {
    return sharesOver(this.readings, from, to);
  }
}
