// The production path of the watch rules, end to end on real servers: a real Prometheus (Debian's) scrapes an
// exporter whose values the test sets and evaluates the rule file `fivestep rules --format prometheus` writes; it
// sends its alerts to a real Alertmanager (Debian's, 0.25) running the configuration `--format alertmanager` writes,
// which notifies a PagerDuty Events API v2 stand-in (it checks each event as PagerDuty does), a Slack-compatible
// webhook stand-in and a real SMTP server (with a login).
//
// What is changed, and why:
// - Speed: the watch's interval is 1s (so each alert's `for` is 1s), Prometheus scrapes and evaluates every second,
//   and the test shortens the generated route's group_wait (10s for pages, 1m for tickets) and group_interval (1m
//   and 5m) to 1s each, by editing the parsed YAML. Nothing else of the configuration is touched.
// - Both rules say `no-data: pass`: with the default (fail) an alert also fires on absent() for as long as the
//   first scrape has not landed, which is a real page at start-up, not the breach under test.
// The secrets go the way a careful user gives them: the PagerDuty routing key and the SMTP password as files
// (routing_key_file, auth_password_file: Alertmanager reads them), the webhook inline.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse as parseYaml, stringify } from 'yaml';
import { alertmanagerConfig, PAGE_RECEIVER, TICKET_RECEIVER } from '../../src/alerting/alertmanager-config.js';
import { prometheusRules } from '../../src/alerting/prometheus-rules.js';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import { startAlertmanager, type AlertmanagerServer } from '../servers/alertmanager.js';
import { startMetricsApp, type MetricsApp } from '../servers/metrics-app.js';
import { startPrometheus, type PrometheusServer } from '../servers/prometheus.js';
import { startPagerDuty, type PagerDutyStandIn, type ReceivedEvent } from '../servers/pagerduty.js';
import { startSmtp, type SmtpTestServer } from '../servers/smtp.js';
import { recorder } from '../metrics/helpers.js';

const PAGE_RULE = 'checkout errors';
const TICKET_RULE = 'queue depth';
const ROUTING_KEY = 'e2e0e2e0e2e0e2e0e2e0e2e0e2e0e2e0';
const ENVIRONMENT = 'e2e';
/** How long a steady value is watched for nothing: longer than a breach took to page (asserted in the breach test). */
const STEADY_MS = 7000;

let dir: string;
let app: MetricsApp;
let pagerduty: PagerDutyStandIn;
let webhook: Awaited<ReturnType<typeof recorder>>;
let smtp: SmtpTestServer;
let am: AlertmanagerServer;
let prom: PrometheusServer;
const started = performance.now();

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `probe` every 50 ms until it returns something; fails with what each server saw. */
async function waitFor<T>(what: string, probe: () => T | undefined | false, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const found = probe();
    if (found) return found;
    if (Date.now() > deadline)
      throw new Error(
        `${what}: not within ${timeoutMs} ms. PagerDuty: ${JSON.stringify(pagerduty.events.map((e) => e.event))}; ` +
          `refused: ${JSON.stringify(pagerduty.rejected)}; webhook: ${webhook.requests.map((r) => r.body).join(' | ')}; ` +
          `mails: ${smtp.mails.map((m) => m.raw.split('\n').find((l) => l.startsWith('Subject'))).join(' | ')}; ` +
          `Alertmanager log: ${am.log().slice(-1500)}; Prometheus log: ${prom.log().slice(-800)}`,
      );
    await sleep(50);
  }
}

const eventFor = (rule: string, action: string) => (e: ReceivedEvent) =>
  e.event.event_action === action &&
  (e.event.payload?.component === rule || (e.event.payload?.summary ?? '').includes(rule) || action === 'resolve');

interface SlackPost {
  attachments: { title: string; text: string; color: string }[];
}
const slackPosts = () => webhook.requests.map((r) => r.json as SlackPost);
const postFor = (rule: string, status: 'FIRING' | 'RESOLVED') =>
  slackPosts().find((p) => p.attachments?.some((a) => a.title.startsWith(`[${status}`) && a.title.includes(rule)));
const subject = (raw: string) => /^Subject: (.*)$/m.exec(raw)?.[1] ?? '';
const mailFor = (rule: string, status: 'FIRING' | 'RESOLVED') =>
  smtp.mails.find((m) => subject(m.text).startsWith(`[${status}`) && subject(m.text).includes(rule));

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'fivestep-e2e-alerting-'));
  [app, pagerduty, webhook, smtp] = await Promise.all([
    startMetricsApp(),
    startPagerDuty({ routingKeys: [ROUTING_KEY] }),
    recorder(200, 'ok'),
    startSmtp(),
  ]);
  app.setGauge('shop_checkout_errors', 0);
  app.setGauge('shop_queue_depth', 10);
  // The secrets as files: the key as `echo KEY > FILE` writes it (Alertmanager trims routing_key_file), the
  // password without a newline, as the comment beside auth_password_file says (Alertmanager 0.25 takes it as is).
  const keyFile = join(dir, 'pagerduty-routing-key');
  const passwordFile = join(dir, 'smtp-password');
  writeFileSync(keyFile, `${ROUTING_KEY}\n`);
  writeFileSync(passwordFile, 's3cret');
  const settings = parseWatchSettings(
    objectInputs({
      url: 'http://prometheus.internal:9090',
      interval: '1s',
      duration: '1m',
      environment: ENVIRONMENT,
      rules: [
        `- name: ${PAGE_RULE}`,
        '  query: shop_checkout_errors',
        '  max: 5',
        '  no-data: pass',
        '  runbook: https://wiki.example.com/runbooks/checkout',
        `- name: ${TICKET_RULE}`,
        '  query: shop_queue_depth',
        '  max: 100',
        '  no-data: pass',
        '  severity: ticket',
      ].join('\n'),
      'pagerduty-routing-key': ROUTING_KEY,
      'alert-webhook': `${webhook.url}/services/T000/B000/XXXX`,
      'smtp-url': `smtp://alerts@127.0.0.1:${smtp.port}`,
      'smtp-password': 's3cret',
      'email-to': 'oncall@example.com',
      'email-from': 'alertmanager@example.com',
    }),
    { env: { FIVESTEP_PAGERDUTY_URL: pagerduty.url } },
  );
  const rules = prometheusRules(settings);
  expect(rules.alerts.map((a) => [a.rule, a.severity, a.for])).toEqual([
    [PAGE_RULE, 'page', '1s'],
    [TICKET_RULE, 'ticket', '1s'],
  ]);
  const generated = alertmanagerConfig(settings, {
    'pagerduty-routing-key': keyFile,
    'smtp-password': passwordFile,
  });
  expect(generated.text).toContain(`auth_password_file: "${passwordFile}" # the password as is: no newline at the end`);
  const config = parseYaml(generated.text) as {
    route: { group_wait: string; group_interval: string; routes: { group_wait: string; group_interval: string }[] };
  };
  // Shortened for speed (see the header): every other line is what the generator wrote.
  for (const route of [config.route, ...config.route.routes]) {
    route.group_wait = '1s';
    route.group_interval = '1s';
  }
  am = await startAlertmanager(stringify(config));
  prom = await startPrometheus({
    targets: [app.host],
    rules: rules.text,
    alertmanager: am.address,
    scrapeInterval: '1s',
    evaluationInterval: '1s',
    readyQuery: 'count(fivestep:rule_value) == 2',
  });
}, 60_000);

afterAll(async () => {
  await prom?.close();
  await am?.close();
  await Promise.all([app?.close(), pagerduty?.close(), webhook?.close(), smtp?.close()]);
  rmSync(dir, { recursive: true, force: true });
  console.log(`end-to-end alerting: ${((performance.now() - started) / 1000).toFixed(1)} s of wall time`);
});

test(`(c) a steady value notifies no one, over ${STEADY_MS / 1000} s of evaluations (longer than a breach takes to page)`, async () => {
  const from = Date.now();
  await sleep(STEADY_MS);
  // The rules were evaluated all along on the steady values, and no alert was even pending.
  const rules = (await prom.groups()).flatMap((g) => g.rules);
  const alerting = rules.filter((r) => r.type === 'alerting');
  expect(alerting.map((r) => [r.name, r.health, r.state])).toEqual([
    ['CheckoutErrors', 'ok', 'inactive'],
    ['QueueDepth', 'ok', 'inactive'],
  ]);
  for (const r of rules) expect(Date.parse(r.lastEvaluation)).toBeGreaterThan(from + STEADY_MS - 2000);
  const seconds = Math.floor(STEADY_MS / 1000);
  const samples = await prom.query(`count_over_time(fivestep:rule_value[${seconds}s])`);
  expect(samples.map((s) => Number(s.value[1]))).toEqual([expect.any(Number), expect.any(Number)]);
  for (const s of samples) expect(Number(s.value[1])).toBeGreaterThanOrEqual(seconds - 2);
  expect(await prom.query(`ALERTS`)).toEqual([]);
  expect(pagerduty.events).toEqual([]);
  expect(webhook.requests).toEqual([]);
  expect(smtp.mails).toEqual([]);
});

let trigger: ReceivedEvent;

test('(a) a breach pages: PagerDuty gets a trigger with the routing key, the webhook a Slack post, the list a mail', async () => {
  const breach = performance.now();
  app.setGauge('shop_checkout_errors', 42);
  app.setGauge('shop_queue_depth', 500);
  trigger = await pagerduty.waitFor(eventFor(PAGE_RULE, 'trigger'), 20_000);
  const pageMs = trigger.at - breach;
  console.log(`end-to-end alerting: breach → PagerDuty trigger in ${(pageMs / 1000).toFixed(2)} s`);
  // (c) watched long enough: a breach pages sooner than that.
  expect(pageMs).toBeLessThan(STEADY_MS);
  expect(trigger.event).toMatchObject({
    // Read from routing_key_file (written with a trailing newline, as `echo KEY > FILE` does).
    routing_key: ROUTING_KEY,
    event_action: 'trigger',
    payload: { severity: 'critical', component: PAGE_RULE, group: ENVIRONMENT },
  });
  expect(trigger.event.payload?.summary).toContain(PAGE_RULE);
  expect(trigger.dedupKey).toMatch(/^[0-9a-f]{64}$/);

  const post = await waitFor('the Slack post', () => postFor(PAGE_RULE, 'FIRING'));
  expect(webhook.requests.every((r) => r.method === 'POST' && r.url === '/services/T000/B000/XXXX')).toBe(true);
  const attachment = post.attachments[0];
  expect(attachment.color).toBe('danger');
  // The text the generator set: the rule, the environment, the annotations (value and runbook).
  expect(attachment.text).toContain(`*${PAGE_RULE}* (${ENVIRONMENT})`);
  expect(attachment.text).toContain(`summary: ${PAGE_RULE}: value 42 is out of bounds`);
  expect(attachment.text).toContain('runbook_url: https://wiki.example.com/runbooks/checkout');

  const mail = await waitFor('the mail', () => mailFor(PAGE_RULE, 'FIRING'));
  // Logged in with the password read from auth_password_file.
  expect(mail).toMatchObject({ from: 'alertmanager@example.com', to: ['oncall@example.com'], user: 'alerts' });
  expect(mail.text).toMatch(/^X-Priority: 1 \(Highest\)$/m);
  expect(mail.text).toContain(PAGE_RULE);
});

test('(d) a severity: ticket rule reaches the webhook and the list, never PagerDuty', async () => {
  const post = await waitFor('the ticket Slack post', () => postFor(TICKET_RULE, 'FIRING'));
  expect(post.attachments[0].text).toContain(`*${TICKET_RULE}* (${ENVIRONMENT})`);
  const mail = await waitFor('the ticket mail', () => mailFor(TICKET_RULE, 'FIRING'));
  // Not the pages' priority.
  expect(mail.text).not.toMatch(/^X-Priority:/m);
  // Alertmanager notifies a group's receivers at once: the ticket's own notifications are in, PagerDuty has
  // had the same time, and the only event there is the page's.
  expect(pagerduty.events.map((e) => [e.event.event_action, e.event.payload?.component])).toEqual([
    ['trigger', PAGE_RULE],
  ]);
  const alerts = await (await fetch(`${am.url}/api/v2/alerts/groups`)).json();
  const receivers = (alerts as { receiver: { name: string }; labels: { rule: string } }[]).map((g) => [
    g.labels.rule,
    g.receiver.name,
  ]);
  expect(receivers.sort()).toEqual([
    [PAGE_RULE, PAGE_RECEIVER],
    [TICKET_RULE, TICKET_RECEIVER],
  ]);
});

test('(b) the page resolves when the value recovers: PagerDuty resolve with the same dedup key, resolved posts and mails', async () => {
  app.setGauge('shop_checkout_errors', 0);
  app.setGauge('shop_queue_depth', 10);
  const resolve = await pagerduty.waitFor((e) => e.event.event_action === 'resolve', 20_000);
  expect(resolve.event).toMatchObject({ routing_key: ROUTING_KEY, event_action: 'resolve' });
  expect(resolve.dedupKey).toBe(trigger.dedupKey);
  expect(pagerduty.incidents).toEqual(new Map([[trigger.dedupKey, 'resolved']]));
  const resolvedPost = await waitFor('the resolved Slack post', () => postFor(PAGE_RULE, 'RESOLVED'));
  expect(resolvedPost.attachments[0].color).toBe('good');
  await waitFor('the resolved mail', () => mailFor(PAGE_RULE, 'RESOLVED'));
  await waitFor('the ticket resolved on the webhook', () => postFor(TICKET_RULE, 'RESOLVED'));
  await waitFor('the ticket resolved by mail', () => mailFor(TICKET_RULE, 'RESOLVED'));
  // Over the whole run: PagerDuty saw the page's trigger and resolve, nothing of the ticket, and nothing refused.
  expect(pagerduty.events.map((e) => e.event.event_action)).toEqual(['trigger', 'resolve']);
  expect(pagerduty.rejected).toEqual([]);
  expect(JSON.stringify(pagerduty.events)).not.toContain(TICKET_RULE);
});
