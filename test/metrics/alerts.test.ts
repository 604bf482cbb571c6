import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { MemoryLogger } from '../../src/common/logger.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { runWatch } from '../../src/metrics/watch.js';
import { sendAlerts } from '../../src/metrics/alerts/index.js';
import { dedupKey } from '../../src/metrics/alerts/pagerduty.js';
import { smtpTransportOptions } from '../../src/metrics/alerts/email.js';
import { httpLink } from '../../src/common/url.js';
import { slackRunbook } from '../../src/metrics/alerts/webhook.js';
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

describe('runbook: in every alert, as a link only when it is an http(s) URL', () => {
  const HOSTILE = '@channel <!here> [click](javascript:alert(1)) <img src=x> `code` &amp; <https://evil.example|ok>';
  const rules = JSON.stringify([
    { name: 'revenue per minute', query: 'revenue', min: 100, runbook: 'https://wiki.example/runbooks/revenue' },
    { name: 'concurrent users', query: 'users', min: 10, runbook: HOSTILE },
  ]);
  const since = '2023-11-14T22:13:21.000Z';

  test('PagerDuty links and details, the webhook text and the e-mail, word for word; a hostile runbook is text', async () => {
    hooks.requests.length = 0;
    pagerduty.requests.length = 0;
    smtp.mails.length = 0;
    const { r } = await watch((rule) => (rule === 'revenue per minute' ? 40 : 1), { rules });
    expect(r.verdict).toBe('fail');
    expect(r.alertWarnings).toEqual([]);
    expect(r.breaches.map((b) => b.runbook)).toEqual(['https://wiki.example/runbooks/revenue', HOSTILE]);

    const events = Object.fromEntries(
      pagerduty.requests.map((q) => {
        const e = q.json as { payload: { component: string; custom_details: { runbook?: string } }; links: unknown };
        return [e.payload.component, { links: e.links, runbook: e.payload.custom_details.runbook }];
      }),
    );
    expect(events).toEqual({
      'revenue per minute': {
        links: [
          { href: ctx.runUrl, text: 'Workflow run' },
          { href: 'https://wiki.example/runbooks/revenue', text: 'runbook' },
        ],
        runbook: 'https://wiki.example/runbooks/revenue',
      },
      // Not a URL: no link, and in the details as the text it is (PagerDuty shows details as text).
      'concurrent users': { links: [{ href: ctx.runUrl, text: 'Workflow run' }], runbook: HOSTILE },
    });

    expect((hooks.requests[0].json as { text: string }).text).toBe(
      [
        ':rotating_light: *metric-watch FAIL on shop/web (production): revenue per minute, concurrent users*',
        `• revenue per minute: below min 100: value 40, bound 100, since ${since}`,
        '  Runbook: <https://wiki.example/runbooks/revenue>',
        `• concurrent users: below min 10: value 1, bound 10, since ${since}`,
        // Slack's entities for & < >: no <!here>, no <url|text> link; @ broken by a zero-width space.
        '  Runbook: @\u200bchannel &lt;!here&gt; [click](javascript:alert(1)) &lt;img src=x&gt; `code` &amp;amp; ' +
          '&lt;https://evil.example|ok&gt;',
        '<https://github.com/shop/web/actions/runs/42|Workflow run>',
      ].join('\n'),
    );

    // The e-mail is plain text: the runbook as written.
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0].text).toContain(
      [
        `• revenue per minute: below min 100: value 40, bound 100, since ${since}`,
        '  Runbook: https://wiki.example/runbooks/revenue',
        `• concurrent users: below min 10: value 1, bound 10, since ${since}`,
        `  Runbook: ${HOSTILE}`,
        `Run: ${ctx.runUrl}`,
      ].join('\r\n'), // SMTP's line ends
    );
    expect(smtp.mails[0].raw).toMatch(/^Content-Type: text\/plain/m);
  });

  test('a URL is a link target nothing breaks out of; anything but http(s) is no link', () => {
    expect(httpLink('https://wiki.example/run book?q=<b>)|x"`\\y#a b')).toBe(
      'https://wiki.example/run%20book?q=%3Cb%3E%29%7Cx%22%60%5Cy#a%20b',
    );
    expect(httpLink('HTTP://Wiki.Example/ünï')).toBe('http://wiki.example/%C3%BCn%C3%AF');
    for (const text of ['javascript:alert(1)', 'see the wiki', 'ftp://x.example/r', 'https://', 'data:text/html,x'])
      expect(httpLink(text)).toBeUndefined();
    expect(slackRunbook('https://wiki.example/r?a=1&b=2')).toBe('<https://wiki.example/r?a=1&amp;b=2>');
  });
});

describe('smtp-password: the password of the smtp-url user, given apart', () => {
  test('mail goes through the real SMTP server, logged in with smtp-password', async () => {
    smtp.mails.length = 0;
    const { r } = await watch(() => 1, {
      'smtp-url': `smtp://alerts@127.0.0.1:${smtp.port}`,
      'smtp-password': 's3cret',
      'alert-webhook': '',
      'pagerduty-routing-key': '',
    });
    expect(r.alertWarnings).toEqual([]);
    expect(smtp.mails).toHaveLength(1);
    expect(smtp.mails[0]).toMatchObject({ user: 'alerts', to: ['oncall@shop.example', 'sre@shop.example'] });
  });

  test('a wrong one is a warning that does not show it; the verdict stands', async () => {
    smtp.mails.length = 0;
    const { r } = await watch(() => 1, {
      'smtp-url': `smtp://alerts@127.0.0.1:${smtp.port}`,
      'smtp-password': 'Wr0ngPassw0rd',
      'alert-webhook': '',
      'pagerduty-routing-key': '',
    });
    expect(r.verdict).toBe('fail');
    expect(smtp.mails).toHaveLength(0);
    expect(r.alertWarnings).toEqual([expect.stringMatching(/^alert channel e-mail failed: .*Invalid login/)]);
    expect(r.alertWarnings.join('')).not.toMatch(/Wr0ngPassw0rd|V3IwbmdQYXNzdzByZA/);
  });

  test('the transport logs in with the URL user and smtp-password, keeping the URL’s options', () => {
    expect(smtpTransportOptions('smtps://alerts%40shop.example@mail.example:465?tls.servername=m', 'p@ss')).toEqual({
      url: 'smtps://mail.example:465?tls.servername=m',
      auth: { user: 'alerts@shop.example', pass: 'p@ss' },
    });
    expect(smtpTransportOptions('smtps://a:b@mail.example', '')).toBe('smtps://a:b@mail.example');
    expect(() => smtpTransportOptions('smtps://a:b@mail.example', 'c')).toThrow(/input 'smtp-password'/);
  });
});
