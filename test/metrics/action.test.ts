// The action's logic end to end: inputs → watch against a real openmetrics endpoint → outputs, report, fail-on.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { metricWatchAction } from '../../src/metrics/action.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';

let app: MetricsApp;
let runnerTemp: string;
beforeAll(async () => {
  app = await startMetricsApp();
  app.setGauge('shop_concurrent_users', 5);
  app.setRate('shop_revenue_total', 600);
  runnerTemp = mkdtempSync(join(tmpdir(), 'fivestep-runner-'));
});
afterAll(async () => {
  await app.close();
  rmSync(runnerTemp, { recursive: true, force: true });
});

const run = (values: Record<string, string>) => {
  const masked: string[] = [];
  return metricWatchAction(
    objectInputs({
      source: 'openmetrics',
      url: `${app.url}/metrics`,
      duration: '400ms',
      interval: '200ms',
      rules: '- name: revenue per minute\n  query: shop_revenue_total\n  min: 100\n- name: concurrent users\n  query: shop_concurrent_users\n  min: 10\n  no-data: inconclusive',
      ...values,
    }),
    new MemoryLogger(),
    { env: { RUNNER_TEMP: runnerTemp, GITHUB_REPOSITORY: 'shop/web', GITHUB_RUN_ID: '5' }, mask: (s) => masked.push(s), context: { repository: 'shop/web', runUrl: 'https://github.com/shop/web/actions/runs/5' } },
  ).then((r) => ({ ...r, masked }));
};

describe('metric-watch action logic', () => {
  test('outputs verdict, breaches and the report path; the step fails on fail by default', async () => {
    const r = await run({ 'pagerduty-routing-key': 'KEY123', 'smtp-url': 'smtp://u:pa55@127.0.0.1:1', 'email-to': 'a@b.c' });
    expect(r.outputs.verdict).toBe('fail');
    expect(r.outputs.breaches).toEqual([expect.objectContaining({ rule: 'concurrent users', check: 'min', value: 5, bound: 10 })]);
    expect(r.failure).toMatch(/metric-watch verdict fail: concurrent users: fail: below min 10/);
    expect(String(r.outputs.report).startsWith(join(runnerTemp, 'fivestep'))).toBe(true);
    const report = JSON.parse(readFileSync(String(r.outputs.report), 'utf8'));
    expect(report.rules[0].samples.length).toBeGreaterThan(0);
    expect(r.summary).toContain('xychart-beta');
    expect(r.masked).toEqual(expect.arrayContaining(['KEY123', 'pa55']));
  });

  test('fail-on never reports without failing; fail-on inconclusive fails on inconclusive', async () => {
    const never = await run({ 'fail-on': 'never' });
    expect(never.outputs.verdict).toBe('fail');
    expect(never.failure).toBeUndefined();
    app.setGauge('shop_concurrent_users', 50);
    const rules = '- name: refunds\n  query: shop_refunds_total\n  max: 10\n  no-data: inconclusive';
    const lenient = await run({ rules });
    expect(lenient.outputs.verdict).toBe('inconclusive');
    expect(lenient.failure).toBeUndefined();
    const strict = await run({ rules, 'fail-on': 'inconclusive' });
    expect(strict.failure).toMatch(/verdict inconclusive/);
    const pass = await run({});
    expect(pass.outputs).toMatchObject({ verdict: 'pass', breaches: [] });
  });

  test('a bad input stops before watching, naming the input', async () => {
    await expect(run({ interval: 'often' })).rejects.toThrow(/input 'interval'/);
  });
});
