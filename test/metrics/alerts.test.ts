import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import { sendAlerts } from '../../src/metrics/alerts/index.js';
import { dedupKey } from '../../src/metrics/alerts/pagerduty.js';
import { recorder, scriptedSource, virtualClock } from './helpers.js';
import { startSmtp, type SmtpTestServer } from '../servers/smtp.js';

const ctx = { repository: 'shop/web', runUrl: 'https://github.com/shop/web/actions/runs/42' };
let smtp: SmtpTestServer;
let hooks: Awaited<ReturnType<typeof recorder>>;
let pagerduty: Awaited<ReturnType<typeof recorder>>;

beforeAll(async () => {
  smtp = await startSmtp();
  hooks = await recorder(200, 'ok');
  pagerduty = await recorder(202, '{"status":"success","message":"Event processed"}');
});
afterAll(async () => {
  await Promise.all([smtp.close(), hooks.close(), pagerduty.close()]);
});

const RULES =
  '- name: revenue per minute\n  query: revenue\n  min: 100\n  for: 2\n- name: concurrent users\n  query: users\n  min: 10';

/** The watch, then the alerts on its result, as the action sends them. */
async function watch(values: (rule: string) => number, extra: Record<string, string> = {}) {
  const settings = parseWatchSettings(
    objectInputs({
      url: 'http://prom.invalid',
      duration: '5s',
      interval: '1s',
      rules: RULES,
      environment: 'production',
      'alert-webhook': `${hooks.url}/hooks/T000/B000/XXXX`,
      'pagerduty-routing-key': 'R0UT1NGKEY',
      'smtp-url': smtp.url,
      'email-to': 'oncall@shop.example, sre@shop.example',
      ...extra,
    }),
    { env: { FIVESTEP_PAGERDUTY_URL: `${pagerduty.url}/v2/enqueue` } },
  );
  const logger = new MemoryLogger();
  const r = await runWatch(settings, {
    logger,
    source: scriptedSource((rule) => values(rule)),
    ...virtualClock(1_700_000_000_000),
  });
  r.alertWarnings = await sendAlerts(r, settings, ctx, logger);
  return { r, logger };
}

describe('alerts', () => {
  test('a fail pages PagerDuty per failing rule, posts the webhook and mails the list: what, value, bound, since, run link', async () => {
    hooks.requests.length = 0;
    pagerduty.requests.length = 0;
    smtp.mails.length = 0;
    const { r } = await watch((rule) => (rule === 'revenue per minute' ? 40 : 50));
    expect(r.verdict).toBe('fail');
    expect(r.alertWarnings).toEqual([]);

    expect(hooks.requests).toHaveLength(1);
    const text = (hooks.requests[0].json as { text: string }).text;
    expect(hooks.requests[0].url).toBe('/hooks/T000/B000/XXXX');
    expect(text).toContain('metric-watch FAIL on shop/web (production): revenue per minute');
    expect(text).toContain('revenue per minute: below min 100: value 40, bound 100, since 2023-11-14T22:13:21.000Z');
    expect(text).toContain('<https://github.com/shop/web/actions/runs/42|Workflow run>');

    expect(pagerduty.requests).toHaveLength(1);
    const event = pagerduty.requests[0].json as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(pagerduty.requests[0].url).toBe('/v2/enqueue');
    expect(event).toMatchObject({
      routing_key: 'R0UT1NGKEY',
      event_action: 'trigger',
      dedup_key: 'fivestep/shop/web/production/revenue per minute',
      payload: {
        severity: 'critical',
        source: 'shop/web/production',
        component: 'revenue per minute',
        custom_details: { value: 40, bound: 100, since: '2023-11-14T22:13:21.000Z' },
      },
      links: [{ href: ctx.runUrl, text: 'Workflow run' }],
    });
    expect(event.payload.summary).toContain('below min 100: value 40, bound 100');

    expect(smtp.mails).toHaveLength(1);
    const mail = smtp.mails[0];
    expect(mail.user).toBe('alerts');
    expect(mail.to).toEqual(['oncall@shop.example', 'sre@shop.example']);
    expect(mail.from).toBe('fivestep@127.0.0.1');
    expect(mail.text).toMatch(/Subject: metric-watch FAIL on shop\/web \(production\): revenue per minute/);
    expect(mail.text).toMatch(/X-Priority: 1/);
    expect(mail.text).toContain('value 40, bound 100, since 2023-11-14T22:13:21.000Z');
    expect(mail.text).toContain(ctx.runUrl);
  });

  test('a later passing watch resolves every rule with the same dedup_key; nothing is posted or mailed', async () => {
    hooks.requests.length = 0;
    pagerduty.requests.length = 0;
    smtp.mails.length = 0;
    const { r } = await watch(() => 500);
    expect(r.verdict).toBe('pass');
    expect(
      pagerduty.requests.map((q) => q.json).sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    ).toEqual([
      {
        routing_key: 'R0UT1NGKEY',
        event_action: 'resolve',
        dedup_key: 'fivestep/shop/web/production/concurrent users',
      },
      {
        routing_key: 'R0UT1NGKEY',
        event_action: 'resolve',
        dedup_key: 'fivestep/shop/web/production/revenue per minute',
      },
    ]);
    expect(hooks.requests).toHaveLength(0);
    expect(smtp.mails).toHaveLength(0);
  });

  test('failing channels are warnings; the verdict stands', async () => {
    hooks.setStatus(500);
    pagerduty.setStatus(400);
    try {
      const { r, logger } = await watch(() => 1, { 'smtp-url': 'smtp://alerts:wrong@127.0.0.1:' + smtp.port });
      expect(r.verdict).toBe('fail');
      expect(r.alertWarnings).toHaveLength(4); // webhook, e-mail, two PagerDuty triggers
      expect(r.alertWarnings.join('\n')).toMatch(/webhook answered HTTP 500/);
      expect(r.alertWarnings.join('\n')).toMatch(/PagerDuty answered HTTP 400/);
      expect(r.alertWarnings.join('\n')).toMatch(/e-mail failed/);
      expect(logger.lines.filter((l) => l.startsWith('warning: alert channel'))).toHaveLength(4);
    } finally {
      hooks.setStatus(200);
      pagerduty.setStatus(202);
    }
  });

  test('dedup_key is stable and at most 255 characters', () => {
    expect(dedupKey('shop/web', '', 'errors')).toBe('fivestep/shop/web/default/errors');
    const long = dedupKey('shop/web', 'production', 'x'.repeat(400));
    expect(long.length).toBeLessThanOrEqual(255);
    expect(dedupKey('shop/web', 'production', 'x'.repeat(400))).toBe(long);
  });
});
