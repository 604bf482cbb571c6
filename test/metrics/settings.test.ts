import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { parse as parseYaml } from 'yaml';
import { objectInputs } from '../../src/common/inputs.js';
import { DEFAULT_PAGERDUTY_URL, SECRET_INPUTS, WATCH_INPUTS, parseWatchSettings } from '../../src/metrics/settings.js';
import { closest, parseRolloutWatch } from '../../src/metrics/rollout-watch.js';
import { metricWatchAction } from '../../src/metrics/action.js';
import { MemoryLogger } from '../../src/common/logger.js';

const RULES = `
- name: revenue per minute
  query: sum(rate(shop_revenue_total[1m])) * 60
  min: 100
  max-drop: 20%
  for: 2
- name: errors
  query: sum(rate(http_errors_total[1m]))
  max: 5
  max-rise: 3
  no-data: pass
`;

const parse = (values: Record<string, string>, env: NodeJS.ProcessEnv = {}) =>
  parseWatchSettings(objectInputs({ url: 'http://prom:9090/', rules: RULES, baseline: 'before:30m', ...values }), {
    env,
  });

describe('parseWatchSettings', () => {
  test('defaults and every rule key', () => {
    const s = parse({});
    expect(s).toMatchObject({
      source: 'prometheus',
      url: 'http://prom:9090',
      durationMs: 300_000,
      intervalMs: 30_000,
      failOn: 'fail',
      baseline: { kind: 'before', windowMs: 1_800_000 },
      hosts: [],
      canaryHosts: [],
    });
    expect(s.rules[0]).toEqual({
      name: 'revenue per minute',
      query: 'sum(rate(shop_revenue_total[1m])) * 60',
      min: 100,
      maxDrop: { kind: 'percent', value: 20 },
      for: 2,
      noData: 'fail',
      confidence: 0.98,
      volume: false,
    });
    expect(s.rules[1]).toMatchObject({ max: 5, maxRise: { kind: 'absolute', value: 3 }, for: 1, noData: 'pass' });
    expect(s.alerts.pagerdutyUrl).toBe(DEFAULT_PAGERDUTY_URL);
  });

  test('FIVESTEP_PAGERDUTY_URL overrides the events URL; e-mail sender defaults from smtp-url', () => {
    const s = parse(
      {
        'smtp-url': 'smtps://alerts%40shop.example:pw@mail.example:465',
        'email-to': 'oncall@shop.example, cto@shop.example',
      },
      { FIVESTEP_PAGERDUTY_URL: 'http://127.0.0.1:1/enqueue' },
    );
    expect(s.alerts).toMatchObject({
      pagerdutyUrl: 'http://127.0.0.1:1/enqueue',
      emailTo: ['oncall@shop.example', 'cto@shop.example'],
      emailFrom: 'alerts@shop.example',
    });
  });

  test.each([
    [{ source: 'influx' }, /input 'source'.*not one of/],
    [{ url: '' }, /input 'url': is required/],
    [{ url: 'ftp://x' }, /input 'url'.*http/],
    [{ rules: '' }, /input 'rules': is required/],
    [{ rules: 'name: x' }, /input 'rules': must be a YAML list/],
    [{ rules: '- [oops' }, /input 'rules': is not valid YAML/],
    [{ rules: '- query: up\n  min: 1' }, /rule 1 has no name/],
    [{ rules: '- name: a\n  min: 1' }, /rule 'a' has no query/],
    [{ rules: '- name: a\n  query: up' }, /rule 'a' checks nothing/],
    [{ rules: '- name: a\n  query: up\n  min: lots' }, /rule 'a': 'min' must be a number/],
    [{ rules: '- name: a\n  query: up\n  min: 5\n  max: 1' }, /min \(5\) is above max/],
    [{ rules: '- name: a\n  query: up\n  max-drop: -5%' }, /'max-drop' must be a percentage/],
    [{ rules: '- name: a\n  query: up\n  min: 1\n  for: 0' }, /'for' must be a whole number/],
    [
      { rules: '- name: a\n  query: up\n  min: 1\n  no-data: ignore' },
      /input 'rules'.*not one of fail, pass, inconclusive/,
    ],
    [
      { rules: '- name: a\n  query: up\n  compare: t-test' },
      /compare must be true \(or mann-whitney, its first spelling\) or false, got 't-test'/,
    ],
    [
      { rules: '- name: a\n  query: up\n  min: 1\n  volume: maybe' },
      /rule 'a': volume must be true or false, got 'maybe'/,
    ],
    [{ rules: '- name: a\n  query: up\n  min: 1\n  threshold: 3' }, /unknown key 'threshold'/],
    [{ rules: '- name: a\n  query: up\n  min: 1\n- name: a\n  query: up\n  min: 2' }, /two rules are named 'a'/],
    [{ rules: '- name: a\n  query: up\n  max-drop: 5%', baseline: 'none' }, /rule 'a'.*relative to a baseline/],
    [{ baseline: 'yesterday' }, /input 'baseline'/],
    [{ baseline: 'before:soon' }, /input 'baseline'.*not a duration/],
    [{ source: 'openmetrics' }, /input 'baseline': before:<duration> needs a source that keeps history/],
    [{ baseline: 'hosts' }, /input 'baseline': hosts compares hosts, but rule 'revenue per minute' reads no \{host\}/],
    [
      { url: 'http://{host}:9100/metrics', baseline: 'none', rules: '- name: a\n  query: up\n  min: 1' },
      /input 'hosts'/,
    ],
    [{ duration: '10s', interval: '30s' }, /input 'duration': must be at least one interval/],
    [{ interval: '5ms' }, /input 'interval'/],
    [{ 'fail-on': 'sometimes' }, /input 'fail-on'/],
    [{ 'smtp-url': 'smtp://mail' }, /input 'email-to': is required when smtp-url/],
    [{ 'email-to': 'a@b.c' }, /input 'smtp-url': is required/],
    [{ 'smtp-url': 'http://mail', 'email-to': 'a@b.c' }, /input 'smtp-url'/],
    [{ 'smtp-url': 'smtp://mail', 'email-to': 'not-an-address' }, /input 'email-to'/],
    [{ headers: 'no colon here' }, /input 'headers'/],
  ])('%j is rejected naming the input', (values, message) => {
    expect(() => parse(values as Record<string, string>)).toThrow(message);
  });
});

describe('metric hosts are validated as ssh-rollout validates its hosts', () => {
  const HOSTILE = 'web1"} or vector(0) or up{job="x';
  const perHost = '- name: users\n  query: shop_users{instance="{host}"}\n  min: 1';

  test('a host that is query text is an input error naming the input and the line', () => {
    expect(() => parse({ hosts: `web2:9100\n${HOSTILE}`, rules: perHost })).toThrow(
      `input 'hosts': '${HOSTILE}' is not [user@]host[:port]`,
    );
    expect(() => parse({ hosts: 'web2:9100', 'canary-hosts': HOSTILE, rules: perHost })).toThrow(
      `input 'canary-hosts': '${HOSTILE}' is not [user@]host[:port]`,
    );
    expect(() => parse({ hosts: 'web1/metrics?x=1', rules: perHost })).toThrow(/input 'hosts'/);
    expect(() => parse({ hosts: 'web1:99999', rules: perHost })).toThrow(
      /input 'hosts': 'web1:99999': port must be 1-65535/,
    );
    expect(() => parse({ hosts: '2001:db8::zz', rules: perHost })).toThrow(
      /input 'hosts': '\[2001:db8::zz\]': '2001:db8::zz' is not an IPv6 address/,
    );
    expect(() =>
      parseRolloutWatch(
        `url: http://prom:9090\nhosts: ['${HOSTILE}']\nrules:\n  - name: users\n    query: shop_users{instance="{host}"}\n    min: 1\n`,
        {},
      ),
    ).toThrow(`input 'watch': hosts: '${HOSTILE}' is not [user@]host[:port]`);
  });

  test('what ssh-rollout accepts is accepted: names, addresses, :port, IPv6 in brackets, user@', () => {
    const hosts = [
      'web1',
      'web1.example.com:9100',
      '10.0.0.1:9100',
      '[::1]:9100',
      '[2001:db8::7]',
      'deploy@web3:22',
      '2001:db8::8',
    ];
    expect(parse({ hosts: hosts.join('\n'), rules: perHost }).hosts).toEqual(hosts);
  });

  test('{host} outside a quoted label value of a PromQL or openmetrics query is an input error naming the rule', () => {
    const bare = '- name: users\n  query: shop_users_{host}\n  min: 1';
    expect(() => parse({ hosts: 'web1', rules: bare })).toThrow(
      /input 'rules': rule 'users': \{host\} must stand inside a quoted label value/,
    );
    expect(() =>
      parse({ source: 'openmetrics', baseline: 'none', url: 'http://{host}:9100/metrics', hosts: 'web1', rules: bare }),
    ).toThrow(/input 'rules': rule 'users'/);
    // A Graphite target or a JSON path has no string literal: the validated host goes in as written.
    expect(
      parse({ source: 'graphite', hosts: 'web1', rules: '- name: users\n  query: shop.users.{host}\n  min: 1' })
        .rules[0].query,
    ).toBe('shop.users.{host}');
  });
});

describe('parseRolloutWatch (ssh-rollout watch YAML)', () => {
  test('structured YAML, hosts at run time', () => {
    const s = parseRolloutWatch(`
source: openmetrics
url: http://{host}:9100/metrics
interval: 1s
baseline: hosts
rules:
  - name: errors
    query: http_errors_total
    max-rise: 50%
`);
    expect(s).toMatchObject({ source: 'openmetrics', intervalMs: 1000, baseline: { kind: 'hosts' }, hosts: [] });
    expect(s.rules[0].maxRise).toEqual({ kind: 'percent', value: 50 });
  });

  test('errors name the watch input and the key', () => {
    expect(() => parseRolloutWatch('url: http://x\nrules: []')).toThrow(/input 'watch': rules: must be a YAML list/);
    expect(() => parseRolloutWatch('- a')).toThrow(/input 'watch': must be a YAML mapping/);
  });
});

describe("ssh-rollout's watch YAML", () => {
  test('an unknown key is an input error naming it and the nearest known one; every key is an input of metric-watch', () => {
    const yaml = 'url: http://127.0.0.1:9090\nbasline: hosts\nrules:\n  - name: r\n    query: up\n    min: 1\n';
    expect(() => parseRolloutWatch(yaml, {})).toThrow(
      /^input 'watch': unknown key 'basline' \(did you mean 'baseline'\?\)/,
    );
    expect(() => parseRolloutWatch(yaml.replace('basline', 'colour'), {})).toThrow(
      /^input 'watch': unknown key 'colour'; the keys are/,
    );
    expect([closest('interwal', WATCH_INPUTS), closest('Rules', WATCH_INPUTS), closest('zzz', WATCH_INPUTS)]).toEqual([
      'interval',
      'rules',
      undefined,
    ]);
    const action = parseYaml(readFileSync('actions/metric-watch/action.yml', 'utf8')) as {
      inputs: Record<string, unknown>;
    };
    expect([...WATCH_INPUTS].sort()).toEqual(Object.keys(action.inputs).sort());
  });
});

describe('smtp-password', () => {
  const mail = { 'email-to': 'oncall@shop.example' };
  test("the password of smtp-url's user, secret; '' when not given; ssh-rollout's watch takes it too", () => {
    expect(
      parse({ 'smtp-url': 'smtps://alerts@mail.example:465', 'smtp-password': 'pw', ...mail }).alerts,
    ).toMatchObject({
      smtpUrl: 'smtps://alerts@mail.example:465',
      smtpPassword: 'pw',
      emailFrom: 'fivestep@mail.example',
    });
    expect(parse({ 'smtp-url': 'smtps://alerts:pw@mail.example:465', ...mail }).alerts.smtpPassword).toBe('');
    expect(SECRET_INPUTS).toContain('smtp-password');
    const yaml =
      'url: http://127.0.0.1:9090\nsmtp-url: smtp://alerts@mail.example\nsmtp-password: pw\nemail-to: a@b.c\n' +
      'rules:\n  - name: r\n    query: up\n    min: 1\n';
    expect(parseRolloutWatch(yaml, {}).alerts.smtpPassword).toBe('pw');
    expect(() => parseRolloutWatch(yaml.replace('alerts@', 'alerts:pw@'), {})).toThrow(
      /^input 'watch': smtp-password: smtp-url holds a password too/,
    );
  });

  test('the action masks it before anything else is read', async () => {
    const masked: string[] = [];
    const inputs = objectInputs({ 'smtp-password': ' hunter2hunter2\n' });
    await expect(
      metricWatchAction(inputs, new MemoryLogger(), { mask: (secret) => masked.push(secret) }),
    ).rejects.toThrow(/input 'url'/);
    expect(masked).toEqual(['hunter2hunter2']);
  });

  test.each([
    [{ 'smtp-password': 'pw' }, /^input 'smtp-password': needs smtp-url/],
    [
      { 'smtp-url': 'smtp://alerts:pw@mail', 'smtp-password': 'pw', ...mail },
      /^input 'smtp-password': smtp-url holds a password too: give the password in one place/,
    ],
    [
      { 'smtp-url': 'smtp://mail', 'smtp-password': 'pw', ...mail },
      /^input 'smtp-password': needs the user in smtp-url/,
    ],
  ])('%j is rejected naming smtp-password', (values, message) => {
    expect(() => parse(values as Record<string, string>)).toThrow(message);
  });
});
