import { describe, expect, test } from '@jest/globals';
import { evaluateSelector, isCumulative, parseExposition, parseSelector } from '../../src/metrics/exposition.js';

const TEXT = `# HELP shop_revenue_total Revenue in cents.
# TYPE shop_revenue_total counter
shop_revenue_total{currency="EUR"} 1000
shop_revenue_total{currency="USD"} 500 1700000000000
# TYPE shop_concurrent_users gauge
shop_concurrent_users 42
# TYPE http_request_duration_seconds histogram
http_request_duration_seconds_bucket{le="0.1"} 10
http_request_duration_seconds_bucket{le="+Inf"} 12
http_request_duration_seconds_sum 3.5
http_request_duration_seconds_count 12
label_escapes{path="a\\"b\\\\c",x="y"} NaN
`;

const OPENMETRICS = `# TYPE orders counter
# UNIT orders orders
orders_total 100 # {trace_id="abc"} 1.0
orders_created 1.7e9
# EOF
`;

describe('text exposition', () => {
  test('parses samples, labels, escapes, special values, timestamps', () => {
    const e = parseExposition(TEXT);
    expect(e.samples).toHaveLength(8);
    expect(e.samples[1]).toEqual({ name: 'shop_revenue_total', labels: { currency: 'USD' }, value: 500 });
    expect(e.samples[4].labels).toEqual({ le: '+Inf' });
    expect(e.samples[7].labels.path).toBe('a"b\\c');
    expect(e.samples[7].value).toBeNaN();
    expect(isCumulative('shop_revenue_total', e.types)).toBe(true);
    expect(isCumulative('shop_concurrent_users', e.types)).toBe(false);
    expect(isCumulative('http_request_duration_seconds_count', e.types)).toBe(true);
  });

  test('OpenMetrics: counter family without _total, exemplars dropped, _created not a counter', () => {
    const e = parseExposition(OPENMETRICS);
    expect(e.samples.map((s) => [s.name, s.value])).toEqual([
      ['orders_total', 100],
      ['orders_created', 1.7e9],
    ]);
    expect(isCumulative('orders_total', e.types)).toBe(true);
    expect(isCumulative('orders_created', e.types)).toBe(false);
  });

  test('a gauge is its value; several series need a selector or an aggregation', () => {
    const cur = { at: 60_000, exposition: parseExposition(TEXT) };
    expect(evaluateSelector(parseSelector('shop_concurrent_users'), cur)).toEqual({ kind: 'value', value: 42 });
    expect(evaluateSelector(parseSelector('shop_revenue_total'), cur).kind).toBe('many-series');
    expect(evaluateSelector(parseSelector('nope'), cur).kind).toBe('no-data');
  });

  test('counters become per-minute rates; a reset counts from zero', () => {
    const prev = { at: 0, exposition: parseExposition('# TYPE r counter\nr_total{c="a"} 100\nr_total{c="b"} 50\n') };
    const cur = {
      at: 30_000,
      exposition: parseExposition('# TYPE r counter\nr_total{c="a"} 160\nr_total{c="b"} 10\n'),
    };
    expect(evaluateSelector(parseSelector('r_total{c="a"}'), cur, prev)).toEqual({ kind: 'value', value: 120 }); // 60 in 30 s
    expect(evaluateSelector(parseSelector('r_total{c="b"}'), cur, prev)).toEqual({ kind: 'value', value: 20 }); // reset: 10 in 30 s
    expect(evaluateSelector(parseSelector('sum(r_total)'), cur, prev)).toEqual({ kind: 'value', value: 140 });
    expect(evaluateSelector(parseSelector('max(r_total{c=~"a|b"})'), cur, prev)).toEqual({ kind: 'value', value: 120 });
    expect(evaluateSelector(parseSelector('r_total{c!="a"}'), cur, prev)).toEqual({ kind: 'value', value: 20 });
    expect(evaluateSelector(parseSelector('r_total{c="a"}'), cur).kind).toBe('no-data'); // first scrape: no rate yet
  });

  test('bad selectors and bad lines are errors', () => {
    expect(() => parseSelector('rate(x[1m])')).toThrow(/not a metric selector/);
    expect(() => parseSelector('x{a=b}')).toThrow(/bad label matcher/);
    expect(() => parseExposition('{oops} 1')).toThrow(/line 1/);
    expect(() => parseExposition('x abc')).toThrow(/not a sample value/);
  });
});
