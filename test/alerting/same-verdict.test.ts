// The same series judged two ways give the same verdict: metric-watch (runWatch, source prometheus) against a real
// Prometheus, and the rule file `fivestep rules --format prometheus` generated from the same settings, evaluated by
// that Prometheus (its /api/v1/alerts). An exporter whose values the test sets is scraped every second; rules are
// evaluated every second. A min rule: steady above (pass, no alert), then below (fail, the alert fires); a max-drop
// rule against baseline before:10s: steady (pass, no alert), then a drop (fail, the alert fires).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import type { WatchResult } from '../../src/metrics/types.js';
import { prometheusRules } from '../../src/alerting/prometheus-rules.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';
import { startPrometheus, type ActiveAlert, type PrometheusServer } from '../servers/prometheus.js';

const RULES = `
- name: users
  query: shop_users{instance="{host}"}
  min: 30
- name: revenue
  query: shop_revenue{instance="{host}"}
  max-drop: 30%
`;

let app: MetricsApp;
let prom: PrometheusServer;
let dir: string;

const settingsFor = (url: string) =>
  parseWatchSettings(
    objectInputs({
      source: 'prometheus',
      url,
      hosts: app.host,
      baseline: 'before:10s',
      duration: '5s',
      interval: '1s',
      rules: RULES,
    }),
    { env: {} },
  );

const watch = (): Promise<WatchResult> => runWatch(settingsFor(prom.url), { logger: new MemoryLogger() });
const verdicts = (r: WatchResult) => Object.fromEntries(r.rules.map((x) => [x.name, x.verdict]));
const ours = (alerts: ActiveAlert[]) => alerts.filter((a) => a.labels.rule === 'users' || a.labels.rule === 'revenue');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls the alerts until `alertname` fires (its first firing alert), or undefined after `timeoutMs`. */
async function firing(alertname: string, timeoutMs: number): Promise<ActiveAlert | undefined> {
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(200)) {
    const a = (await prom.alerts()).find((x) => x.labels.alertname === alertname && x.state === 'firing');
    if (a) return a;
  }
  return undefined;
}

/** Polls until none of the two rules' alerts is active (pending or firing). */
async function quiet(timeoutMs: number): Promise<ActiveAlert[]> {
  let active: ActiveAlert[] = [];
  for (const deadline = Date.now() + timeoutMs; Date.now() < deadline; await sleep(200)) {
    active = ours(await prom.alerts());
    if (active.length === 0) return [];
  }
  return active;
}

beforeAll(async () => {
  app = await startMetricsApp();
  app.setGauge('shop_users', 50);
  app.setGauge('shop_revenue', 100);
  // The rule file does not depend on the server's URL: generated first, loaded at start.
  const generated = prometheusRules(settingsFor('http://prometheus.invalid'));
  expect(generated.skipped).toEqual([]);
  dir = mkdtempSync(join(tmpdir(), 'fivestep-same-verdict-'));
  writeFileSync(join(dir, 'fivestep.rules.yml'), generated.text);
  prom = await startPrometheus({
    targets: [app.host],
    ruleFiles: [join(dir, 'fivestep.rules.yml')],
    readyQuery: 'fivestep:rule_value',
  });
  // The drop alert's baseline is the median of the 10s that ended 5s ago: wait for that much recorded history.
  for (const deadline = Date.now() + 40_000; Date.now() < deadline; await sleep(250)) {
    const r = await prom.query('count_over_time(fivestep:rule_value{rule="revenue"}[15s])');
    if (Number(r[0]?.value[1] ?? 0) >= 14) break;
  }
}, 60_000);

afterAll(async () => {
  await prom?.close();
  await app?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('metric-watch and the exported rules in Prometheus give the same verdict', () => {
  test('steady and healthy: both rules pass, no alert is pending or firing', async () => {
    // The absent() clause may have fired before the first scrape: it resolves once the series is recorded.
    expect(await quiet(10_000)).toEqual([]);
    const r = await watch();
    expect(verdicts(r)).toEqual({ users: 'pass', revenue: 'pass' });
    expect(ours(await prom.alerts())).toEqual([]);
  }, 30_000);

  test('below min: metric-watch fails the min rule and the Users alert fires, naming the host and the value', async () => {
    app.setGauge('shop_users', 20);
    const [r, alert] = await Promise.all([watch(), firing('Users', 15_000)]);
    expect(verdicts(r)).toEqual({ users: 'fail', revenue: 'pass' });
    expect(r.breaches).toMatchObject([{ rule: 'users', check: 'min', value: 20, bound: 30, host: app.host }]);
    expect(alert).toMatchObject({
      labels: { alertname: 'Users', rule: 'users', severity: 'page', instance: app.host },
      annotations: { summary: `users on ${app.host}: value 20 is out of bounds` },
      value: expect.stringMatching(/^2(\.0+)?e\+01$|^20$/),
    });
    expect(ours(await prom.alerts()).map((a) => a.labels.alertname)).toEqual(['Users']);
    app.setGauge('shop_users', 50);
    expect(await quiet(10_000)).toEqual([]);
  }, 40_000);

  test('a drop against baseline before:10s: metric-watch fails max-drop and the Revenue alert fires', async () => {
    app.setGauge('shop_revenue', 50);
    const [r, alert] = await Promise.all([watch(), firing('Revenue', 15_000)]);
    app.setGauge('shop_revenue', 100);
    expect(verdicts(r)).toEqual({ users: 'pass', revenue: 'fail' });
    expect(r.breaches).toMatchObject([{ rule: 'revenue', check: 'max-drop', value: 50, bound: 70, baseline: 100 }]);
    expect(alert).toMatchObject({
      labels: { alertname: 'Revenue', rule: 'revenue', severity: 'page', instance: app.host },
      annotations: { summary: `revenue on ${app.host}: value 50 is out of bounds` },
    });
  }, 40_000);
});
