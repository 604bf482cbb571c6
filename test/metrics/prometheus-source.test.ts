// The prometheus source against Debian's real Prometheus, scraping the metrics app each second.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import { createRolloutWatch, parseRolloutWatch } from '../../src/metrics/rollout-watch.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';
import { startPrometheus, waitForHistory, type PrometheusServer } from '../servers/prometheus.js';

let app: MetricsApp;
/** A second app on IPv6 loopback: Prometheus names it `[::1]:PORT`, as ssh-rollout's hosts write IPv6. */
let app6: MetricsApp;
let host6: string;
let prom: PrometheusServer;

beforeAll(async () => {
  app = await startMetricsApp();
  app.setGauge('shop_concurrent_users', 50);
  app.setRate('shop_revenue_total', 6000);
  app6 = await startMetricsApp('::1');
  app6.setGauge('edge_users', 30);
  host6 = `[::1]:${new URL(app6.url.replace('::1', '[::1]')).port}`;
  prom = await startPrometheus([app.host, host6], 'shop_concurrent_users');
}, 40_000);
afterAll(async () => {
  await prom?.close();
  await app?.close();
  await app6?.close();
});

const watch = (values: Record<string, string>) =>
  runWatch(
    parseWatchSettings(
      objectInputs({ source: 'prometheus', url: prom.url, duration: '1s', interval: '250ms', ...values }),
      { env: {} },
    ),
    {
      logger: new MemoryLogger(),
    },
  );

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
    expect(several.rules[0]).toMatchObject({
      verdict: 'fail',
      reason: expect.stringMatching(/rule 'everything'.*returned 2 series.*aggregate it/),
    });
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
    const revenue = await watch({
      rules: '- name: revenue per minute\n  query: sum(rate(shop_revenue_total[10s])) * 60\n  min: 1000',
    });
    expect(revenue.verdict).toBe('pass');
    for (const s of revenue.rules[0].samples) expect(Math.abs(s.value! - 6000)).toBeLessThan(1500); // rate() extrapolates a little
    app.setGauge('shop_concurrent_users', 20);
    // Prometheus scrapes each second: the drop shows within ~1 s, so watch 3 s.
    const r = await watch({
      baseline: 'before:1m',
      duration: '3s',
      rules: '- name: concurrent users\n  query: shop_concurrent_users\n  max-drop: 30%\n  for: 2',
    });
    app.setGauge('shop_concurrent_users', 50);
    expect(r.rules[0].baselineValues).toEqual({ '': 50 });
    expect(r.verdict).toBe('fail');
    expect(r.breaches[0]).toMatchObject({ check: 'max-drop', value: 20, bound: 35, baseline: 50 });
  });
});

describe('{host} in PromQL is data, never query (real Prometheus 2.x)', () => {
  const HOSTILE = 'web1"} or vector(0) or up{job="x';

  // The test before set the users to 20 and back: wait until Prometheus has scraped the 50 again.
  beforeAll(async () => {
    for (const deadline = Date.now() + 10_000; Date.now() < deadline; await new Promise((r) => setTimeout(r, 200))) {
      const res = await fetch(`${prom.url}/api/v1/query?query=shop_concurrent_users`);
      const body = (await res.json()) as { data: { result: { value: [number, string] }[] } };
      if (body.data.result[0]?.value[1] === '50') return;
    }
  }, 15_000);

  test('a hosts line that is PromQL is refused before any query, naming hosts and the line', () => {
    expect(() =>
      watch({
        hosts: `${app.host}\n${HOSTILE}`,
        rules: '- name: users\n  query: shop_concurrent_users{instance="{host}"}\n  min: 10',
      }),
    ).toThrow(`input 'hosts': '${HOSTILE}' is not [user@]host[:port]`);
  });

  test('host:port and IPv6 hosts as ssh-rollout writes them read their series, in = and =~ matchers', async () => {
    await waitForHistory(prom, 'edge_users', 1);
    const r = await watch({
      hosts: `${app.host}\n${host6}`,
      rules: [
        '- name: users\n  query: sum(shop_concurrent_users{instance="{host}"}) or sum(edge_users{instance="{host}"})\n  min: 10',
        // In a regex matcher the host is matched literally: `[::1]` is not a character class, `.` not any character.
        '- name: users by regex\n  query: sum(shop_concurrent_users{instance=~"{host}"}) or sum(edge_users{instance=~"{host}"})\n  min: 10',
      ].join('\n'),
    });
    expect(r.verdict).toBe('pass');
    for (const rule of r.rules) {
      expect(rule.samples.filter((s) => s.host === app.host).every((s) => s.value === 50)).toBe(true);
      expect(rule.samples.filter((s) => s.host === host6).every((s) => s.value === 30)).toBe(true);
    }
  });

  test("ssh-rollout's wave hosts arrive at run time: they are escaped too", async () => {
    const settings = parseRolloutWatch(
      `source: prometheus\nurl: ${prom.url}\ninterval: 250ms\nrules:\n  - name: users\n    query: sum(shop_concurrent_users{instance=~"{host}:.*"})\n    min: 10\n    no-data: inconclusive\n`,
      {},
    );
    // ssh-rollout validates its hosts; a host that slipped through anyway must still be a label value only.
    const watchWave = createRolloutWatch(settings, { logger: new MemoryLogger(), allHosts: ['127.0.0.1:22', HOSTILE] });
    const r = await watchWave(['127.0.0.1:22', HOSTILE], 1000);
    const samples = r.rules[0].samples;
    expect(samples.filter((s) => s.host === '127.0.0.1').every((s) => s.value === 50)).toBe(true);
    // Pasted as text, the host would have made the query `… or vector(0) or …`: a reading of 0.
    const hostile = samples.filter((s) => s.host === HOSTILE);
    expect(hostile.length).toBeGreaterThan(0);
    expect(hostile.every((s) => s.value === null && /returned no series/.test(s.reason ?? ''))).toBe(true);
    expect(r.verdict).toBe('inconclusive');
  });
});
