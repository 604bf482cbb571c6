// The action's logic end to end: inputs → watch against a real openmetrics endpoint → outputs, report, fail-on.
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { metricWatchAction } from '../../src/metrics/action.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';
import { echoServer } from './helpers.js';
import { SMTPServer } from 'smtp-server';
import type { AddressInfo } from 'node:net';

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

const run = (values: Record<string, string>, env: NodeJS.ProcessEnv = {}) => {
  const masked: string[] = [];
  return metricWatchAction(
    objectInputs({
      source: 'openmetrics',
      url: `${app.url}/metrics`,
      duration: '400ms',
      interval: '200ms',
      rules:
        '- name: revenue per minute\n  query: shop_revenue_total\n  min: 100\n- name: concurrent users\n  query: shop_concurrent_users\n  min: 10\n  no-data: inconclusive',
      ...values,
    }),
    new MemoryLogger(),
    {
      env: { RUNNER_TEMP: runnerTemp, GITHUB_REPOSITORY: 'shop/web', GITHUB_RUN_ID: '5', ...env },
      mask: (s) => masked.push(s),
      context: { repository: 'shop/web', runUrl: 'https://github.com/shop/web/actions/runs/5' },
    },
  ).then((r) => ({ ...r, masked }));
};

describe('metric-watch action logic', () => {
  test('outputs verdict, breaches and the report path; the step fails on fail by default', async () => {
    const r = await run({
      'pagerduty-routing-key': 'KEY123',
      'smtp-url': 'smtp://u:pa55@127.0.0.1:1',
      'email-to': 'a@b.c',
    });
    expect(r.outputs.verdict).toBe('fail');
    expect(r.outputs.breaches).toEqual([
      expect.objectContaining({ rule: 'concurrent users', check: 'min', value: 5, bound: 10 }),
    ]);
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

describe('secrets an endpoint echoes back', () => {
  const ROUTING_KEY = 'R0UT1NGKEY0123456789abcdef012345';
  const HOOK_TOKEN = 'XXXXhooktoken0123456789abcdef';
  const BEARER = 'prom-api-token-0123456789';
  const SMTP_PASSWORD = 'sm7p-pa55word';

  /** A real SMTP server that refuses the login, quoting the credentials it was sent (in the clear and as sent). */
  async function echoingSmtp() {
    const server = new SMTPServer({
      disabledCommands: ['STARTTLS'],
      allowInsecureAuth: true,
      logger: false,
      onAuth(auth, _session, cb) {
        cb(
          new Error(
            `no user ${auth.username} with password ${auth.password} (${Buffer.from(`\u0000${auth.username}\u0000${auth.password}`).toString('base64')})`,
          ),
        );
      },
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      port: (server.server.address() as AddressInfo).port,
      close: () => new Promise<void>((resolve) => server.close(() => resolve())),
    };
  }

  /** Everything metric-watch wrote: the JSON report file and the job summary. */
  const written = (r: Awaited<ReturnType<typeof run>>) =>
    `${readFileSync(String(r.outputs.report), 'utf8')}\n${r.summary}`;

  test('an alert endpoint that echoes the request in a 400: no routing key, webhook token or SMTP password in the report or the summary', async () => {
    app.setGauge('shop_concurrent_users', 5);
    const echo = await echoServer(400);
    const smtp = await echoingSmtp();
    try {
      const r = await run(
        {
          'pagerduty-routing-key': ROUTING_KEY,
          'alert-webhook': `${echo.url}/services/T000/B000/${HOOK_TOKEN}`,
          'smtp-url': `smtp://alerts:${SMTP_PASSWORD}@127.0.0.1:${smtp.port}`,
          'email-to': 'oncall@shop.example',
        },
        { FIVESTEP_PAGERDUTY_URL: `${echo.url}/v2/enqueue` },
      );
      expect(r.outputs.verdict).toBe('fail');
      const report = JSON.parse(readFileSync(String(r.outputs.report), 'utf8')) as { alertWarnings: string[] };
      // The answers are kept (what went wrong is worth reading), with the secrets redacted.
      expect(report.alertWarnings.join('\n')).toMatch(
        /PagerDuty answered HTTP 400: invalid request: POST \/v2\/enqueue \{"routing_key":"\*\*\*","event_action":"trigger"/,
      );
      expect(report.alertWarnings.join('\n')).toMatch(/webhook answered HTTP 400: invalid request: POST \*\*\*/);
      expect(report.alertWarnings.join('\n')).toMatch(
        /e-mail failed: .*no user alerts with password \*\*\* \(\*\*\*\)/,
      );
      const all = written(r);
      expect(all).toContain('PagerDuty answered HTTP 400');
      for (const secret of [
        ROUTING_KEY,
        HOOK_TOKEN,
        SMTP_PASSWORD,
        Buffer.from(`\u0000alerts\u0000${SMTP_PASSWORD}`).toString('base64'),
      ])
        expect(all).not.toContain(secret);
    } finally {
      await echo.close();
      await smtp.close();
    }
  });

  test("a metric source that echoes the request's Authorization header in its error: not in the report or the summary", async () => {
    const echo = await echoServer(400);
    try {
      const r = await run({
        source: 'http-json',
        url: `${echo.url}/status.json`,
        headers: `Authorization: Bearer ${BEARER}`,
        rules: '- name: users\n  query: shop.users.concurrent\n  min: 10',
      });
      expect(r.outputs.verdict).toBe('fail');
      const report = JSON.parse(readFileSync(String(r.outputs.report), 'utf8')) as { rules: { reason: string }[] };
      expect(report.rules[0].reason).toMatch(
        /HTTP 400 from .*invalid request: GET \/status.json .*authorization: \*\*\*/,
      );
      expect(written(r)).not.toContain(BEARER);
    } finally {
      await echo.close();
    }
  });

  test('an endpoint whose error answer never ends: read up to a cap, kept cut to a bounded length', async () => {
    app.setGauge('shop_concurrent_users', 5);
    const echo = await echoServer(400, { endless: true });
    try {
      const started = Date.now();
      const r = await run(
        { 'pagerduty-routing-key': ROUTING_KEY },
        { FIVESTEP_PAGERDUTY_URL: `${echo.url}/v2/enqueue` },
      );
      // Not the 10 s request timeout: the answer is read to 64 KiB and dropped.
      expect(Date.now() - started).toBeLessThan(5000);
      const report = JSON.parse(readFileSync(String(r.outputs.report), 'utf8')) as { alertWarnings: string[] };
      expect(report.alertWarnings).toHaveLength(1); // the failing rule's trigger
      for (const w of report.alertWarnings) {
        expect(w).toMatch(
          /^alert channel PagerDuty trigger '.*' failed: PagerDuty answered HTTP 400: invalid request: POST/,
        );
        expect(w.length).toBeLessThanOrEqual(500);
      }
      expect(written(r)).not.toContain(ROUTING_KEY);
    } finally {
      await echo.close();
    }
  });
});
