// Shares of requests over a span of time, from the balancer's counters read over time (pure). The story of
// every case: 4 hosts, 60 requests/s; `a` is the canary, drained at 10 s, back at 20 s, at 10% from 30 s.
import {
  LoadBalancerError,
  RequestSeries,
  sharesBetween,
  sharesOver,
  type RequestCounts,
  type TimedCounts,
} from '../../src/lb/index.js';

const at = (t: number, a: number, b: number, c = b, d = b, measured = true): TimedCounts => ({
  t,
  counts: { measured, byHost: { a, b, c, d } },
});

// Open (0 s), before the drain (10 s), before back in rotation (20 s), before the canary weight (30 s), a bake
// reading (40 s): 15/s each at full weight; a drained: 20/s each for the others; at 10%: 6/s and 18/s.
const READINGS = [at(0, 0, 0), at(10_000, 150, 150), at(20_000, 150, 350), at(30_000, 300, 500), at(40_000, 360, 680)];

test("a reading early in the bake: the share over its rate's window, which starts before the drain", () => {
  // A rate over [1m] read at 40 s covers [-20 s, 40 s]: before the first reading the balancer was as found (15/s).
  const s = sharesOver(READINGS, -20_000, 40_000)!;
  expect(s.measured).toBe(true);
  expect(s.total).toBe(3600);
  expect(s.share.a).toBeCloseTo(660 / 3600, 12);
  expect(s.share.b).toBeCloseTo(980 / 3600, 12);
  // What "since the bake began" says, for the same reading: the canary's 10% only.
  expect(sharesBetween(READINGS[3].counts, READINGS[4].counts)!.share.a).toBeCloseTo(0.1, 12);
});

test('between readings the counters grow evenly; a span inside the bake is the canary weight', () => {
  expect(sharesOver(READINGS, 30_000, 40_000)!.share.a).toBeCloseTo(0.1, 12);
  const drained = sharesOver(READINGS, 10_000, 20_000)!;
  expect(drained.share).toEqual({ a: 0, b: 1 / 3, c: 1 / 3, d: 1 / 3 });
  // 15 s → 35 s: a 150 → 330, b 250 → 590.
  const mixed = sharesOver(READINGS, 15_000, 35_000)!;
  expect(mixed.total).toBeCloseTo(1200, 9);
  expect(mixed.share.a).toBeCloseTo(180 / 1200, 12);
  expect(mixed.share.b).toBeCloseTo(340 / 1200, 12);
  // After the last reading, its interval's rates go on.
  expect(sharesOver(READINGS, 40_000, 50_000)!.share.a).toBeCloseTo(0.1, 12);
});

test('the readings may come in any order; two at one instant count as the later', () => {
  const shuffled = [READINGS[3], READINGS[0], READINGS[4], READINGS[2], READINGS[1], at(30_000, 300, 500)];
  expect(sharesOver(shuffled, -20_000, 40_000)!.share.a).toBeCloseTo(660 / 3600, 12);
});

test('null where the span cannot be split', () => {
  expect(sharesOver([], 0, 1000)).toBeNull();
  expect(sharesOver(READINGS, 5000, 5000)).toBeNull();
  expect(sharesOver(READINGS, 6000, 5000)).toBeNull();
  // One measured reading: no rate is known on either side of it.
  expect(sharesOver([READINGS[1]], 0, 20_000)).toBeNull();
  // Nothing counted in the span.
  expect(sharesOver([at(0, 5, 5), at(10_000, 5, 5)], 0, 10_000)).toBeNull();
  // haproxy reloaded between 20 s and 30 s (its counters start again at 0): no span over that interval.
  const reloaded = [...READINGS.slice(0, 3), at(30_000, 12, 20), at(40_000, 72, 200)];
  expect(sharesOver(reloaded, 15_000, 35_000)).toBeNull();
  expect(sharesOver(reloaded, 30_000, 40_000)!.share.a).toBeCloseTo(0.1, 12);
  expect(sharesOver(reloaded, 0, 20_000)).not.toBeNull();
  // A reset in the last interval: no rate to go on with after it.
  expect(sharesOver(reloaded.slice(0, 4), 32_000, 40_000)).toBeNull();
});

test('configured readings (nginx): the weights in rotation, each holding since the reading before, averaged over the span', () => {
  const w = (t: number, a: number, b: number) => at(t, a, b, b, b, false);
  // All 10 until 10 s, a out until 20 s, all 10 until 30 s, then a at 10% (1 : 3 : 3 : 3).
  const weights = [w(0, 10, 10), w(10_000, 10, 10), w(20_000, 0, 10), w(30_000, 10, 10), w(40_000, 1, 3)];
  const s = sharesOver(weights, 0, 40_000)!;
  expect(s.measured).toBe(false);
  // a: (10 s × 1/4 + 10 s × 0 + 10 s × 1/4 + 10 s × 1/10) / 40 s; mean weight (40 + 30 + 40 + 10) / 4.
  expect(s.share.a).toBeCloseTo(6 / 40, 12);
  expect(s.share.b).toBeCloseTo((2.5 + 10 / 3 + 2.5 + 3) / 40, 12);
  expect(s.total).toBeCloseTo(30, 12);
  // Before the first reading its weights; after the last, the last's.
  expect(sharesOver(weights, -10_000, 0)!.share.a).toBeCloseTo(0.25, 12);
  expect(sharesOver(weights, 40_000, 50_000)!.share.a).toBeCloseTo(0.1, 12);
  expect(sharesOver([w(0, 0, 0), w(10_000, 0, 0)], 0, 10_000)).toBeNull();
});

test('measured and configured readings do not mix', () => {
  const configured: TimedCounts = { t: 5000, counts: { measured: false, byHost: { a: 1 } } };
  expect(() => sharesOver([READINGS[0], configured], 0, 5000)).toThrow(LoadBalancerError);
});

test('a series keeps its readings in time order; once full, a new one replaces the latest', () => {
  const series = new RequestSeries(3);
  const c = (n: number): RequestCounts => ({ measured: true, byHost: { a: n } });
  series.add({ t: 20, counts: c(2) });
  series.add({ t: 10, counts: c(1) });
  expect(series.full).toBe(false);
  series.add({ t: 30, counts: c(3) });
  expect(series.full).toBe(true);
  series.add({ t: 40, counts: c(4) });
  expect(series.all().map((r) => r.t)).toEqual([10, 20, 40]);
  expect(series.latest?.t).toBe(40);
});
