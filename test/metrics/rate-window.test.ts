// How far back a rule's reading reaches, from its query: the span a volume reading's share of requests is taken over.
import { queryRangesMs, rateWindowMs } from '../../src/metrics/rate-window.js';
import { promqlDurationMs } from '../../src/metrics/slo.js';
import { readingWindow } from '../../src/metrics/watch-readings.js';

test('PromQL durations: units from ms to y, combined; anything else is not one', () => {
  expect(promqlDurationMs('1m')).toBe(60_000);
  expect(promqlDurationMs('90s')).toBe(90_000);
  expect(promqlDurationMs('500ms')).toBe(500);
  expect(promqlDurationMs('1h30m')).toBe(5_400_000);
  expect(promqlDurationMs('2d')).toBe(172_800_000);
  expect(promqlDurationMs('1w')).toBe(604_800_000);
  expect(promqlDurationMs('1y')).toBe(31_536_000_000);
  for (const x of ['', '5', '0', '1-3', '{window}', 'm', '5 m', '1.5m', '$__rate_interval']) {
    expect(promqlDurationMs(x)).toBeNull();
  }
});

test("a rate's window is its range; several: the largest, subqueries included", () => {
  expect(rateWindowMs('rate(requests_total{host="{host}"}[1m])', 30_000)).toBe(60_000);
  expect(rateWindowMs('sum(rate(a[30s])) / sum(rate(b[5m]))', 1000)).toBe(300_000);
  expect(queryRangesMs('max_over_time(rate(x[1m])[10m:30s])')).toEqual([60_000, 600_000]);
  expect(rateWindowMs('max_over_time(rate(x[1m])[10m:30s])', 1000)).toBe(600_000);
  expect(rateWindowMs('avg_over_time(x[ 5m : ])', 1000)).toBe(300_000);
  expect(rateWindowMs('increase(orders_total[1h30m])', 1000)).toBe(5_400_000);
});

test('brackets in label values and comments are not ranges', () => {
  expect(queryRangesMs('rate(x{path="/a[5m]", q=\'[1h]\'}[2m])')).toEqual([120_000]);
  expect(queryRangesMs('# was rate(x[1h])\nrate(x[2m]) # not [3m]')).toEqual([120_000]);
  expect(queryRangesMs('rate(x{path=`[9m]`}[20s])')).toEqual([20_000]);
});

test('no range (an openmetrics counter, a recorded rate, Graphite, a JSON path): one interval', () => {
  expect(rateWindowMs('orders_total', 500)).toBe(500);
  expect(rateWindowMs('job:requests:rate1m{host="{host}"}', 30_000)).toBe(30_000);
  expect(rateWindowMs('servers.web[1-3].requests', 30_000)).toBe(30_000);
  expect(rateWindowMs('$.items[0].rate', 30_000)).toBe(30_000);
  expect(rateWindowMs('sum(rate(x[{window}]))', 10_000)).toBe(10_000);
});

test('a reading at `at` describes [at − window, at]', () => {
  expect(readingWindow({ query: 'rate(x[1m])' }, 1_000_000, 5000)).toEqual({ from: 940_000, to: 1_000_000 });
  expect(readingWindow({ query: 'orders_total' }, 1_000_000, 5000)).toEqual({ from: 995_000, to: 1_000_000 });
});
