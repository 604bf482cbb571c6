// The prometheus source against Debian's real Prometheus, scraping the metrics app each second.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';
import { startPrometheus, waitForHistory, type PrometheusServer } from '../servers/prometheus.js';

let app: MetricsApp;
let prom: PrometheusServer;

beforeAll(async () => {
  app = await startMetricsApp();
  app.setGauge('shop_concurrent_users', 50);
  app.setRate('shop_revenue_total', 6000);
  prom = await startPrometheus([app.host], 'shop_concurrent_users');
}, 40_000);
afterAll(async () => {
  await prom?.close();
  await app?.close();
});

const watch = (values: Record<string, string>) =>
  runWatch(parseWatchSettings(objectInputs({ source: 'prometheus', url: prom.url, duration: '1s', interval: '250ms', ...values }), { env: {} }), {
    logger: new MemoryLogger(),
  });

describe('prometheus source (real Prometheus 2.x)', () => {
  test('instant queries, also per host with {host} in the query', async () => {
    const r = await watch({
      hosts: app.host,
      rules: `- name: users\n  query: shop_concurrent_users\n  min: 10\n- name: users per host\n  query: shop_concurrent_users{instance="{host}"}\n  max: 100`,
    });
    expect(r.verdict).toBe('pass');
    expect(r.rules[0].samples.map((s) => s.value)).toEqual([50, 50, 50, 50]);
    expect(r.rules[1].samples.every((s) => s.host === app.host && s.value === 50)).toBe(true);
  });

  test('several series where one is needed, and a PromQL syntax error, fail the rule naming it', async () => {
    const several = await watch({ rules: '- name: everything\n  query: \'{__name__=~"shop_.*"}\'\n  max: 1' });
    expect(several.rules[0]).toMatchObject({ verdict: 'fail', reason: expect.stringMatching(/rule 'everything'.*returned 2 series.*aggregate it/) });
    const syntax = await watch({ rules: '- name: typo\n  query: sum(rate(shop_revenue_total[1m]\n  max: 1' });
    expect(syntax.rules[0]).toMatchObject({ verdict: 'fail', reason: expect.stringMatching(/rule 'typo'.*bad_data/) });
  });

  test('no series is no-data', async () => {
    const r = await watch({ rules: '- name: nothing\n  query: shop_refunds_total\n  max: 1\n  no-data: inconclusive' });
    expect(r.rules[0]).toMatchObject({ verdict: 'inconclusive', reason: expect.stringMatching(/returned no series/) });
  });

  test('baseline before:<duration> from a range query; revenue per minute from rate()', async () => {
    // Let Prometheus hold a few seconds of healthy history, then drop concurrent users.
    await waitForHistory(prom, 'shop_concurrent_users', 8);
    const revenue = await watch({ rules: '- name: revenue per minute\n  query: sum(rate(shop_revenue_total[10s])) * 60\n  min: 1000' });
    expect(revenue.verdict).toBe('pass');
    for (const s of revenue.rules[0].samples) expect(Math.abs(s.value! - 6000)).toBeLessThan(1500); // rate() extrapolates a little
    app.setGauge('shop_concurrent_users', 20);
    // Prometheus scrapes each second: the drop shows within ~1 s, so watch 3 s.
    const r = await watch({ baseline: 'before:1m', duration: '3s', rules: '- name: concurrent users\n  query: shop_concurrent_users\n  max-drop: 30%\n  for: 2' });
    app.setGauge('shop_concurrent_users', 50);
    expect(r.rules[0].baselineValues).toEqual({ '': 50 });
    expect(r.verdict).toBe('fail');
    expect(r.breaches[0]).toMatchObject({ check: 'max-drop', value: 20, bound: 35, baseline: 50 });
  });
});
