// The generated rule file and its generated unit tests through the real promtool (Debian's prometheus package):
// `promtool check rules` and `promtool test rules` pass for a broad set of settings, hostile ones too; a rule file
// altered after its tests were generated fails them (the tests can fail); `{host}` for the whole fleet matches
// exactly the fleet's hosts in real PromQL; `$value` prints as goFloat says.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { parse as parseYaml, stringify } from 'yaml';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import type { WatchSettings } from '../../src/metrics/types.js';
import { prometheusRules } from '../../src/alerting/prometheus-rules.js';
import { promtoolTests } from '../../src/alerting/promtool-tests.js';
import { goFloat } from '../../src/alerting/promql.js';
import { ensurePackages } from '../servers/system-packages.js';
import { hostileSettings, promtool } from '../servers/promtool.js';
import { BEFORE_SETTINGS } from './fixtures.js';

const settingsOf = (inputs: Record<string, string>): WatchSettings =>
  parseWatchSettings(objectInputs({ source: 'prometheus', url: 'http://prometheus:9090', ...inputs }), {
    env: {},
    hostsAtRunTime: true,
  });

let root: string;
beforeAll(() => {
  ensurePackages(['prometheus']);
  root = mkdtempSync(join(tmpdir(), 'fivestep-promtool-'));
});
afterAll(() => rmSync(root, { recursive: true, force: true }));

let dirs = 0;
/** Writes the rule file and its tests (in `tests/`, loading `../rules.yml` as promtool resolves it) to a new dir. */
function generate(settings: WatchSettings) {
  const dir = join(root, String(++dirs));
  mkdirSync(join(dir, 'tests'), { recursive: true });
  const rules = prometheusRules(settings);
  const tests = promtoolTests(settings, '../rules.yml');
  writeFileSync(join(dir, 'rules.yml'), rules.text);
  writeFileSync(join(dir, 'tests', 'tests.yml'), tests.text);
  return {
    dir,
    rules,
    tests,
    check: () => promtool(['check', 'rules', join(dir, 'rules.yml')]),
    test: () => promtool(['test', 'rules', join(dir, 'tests', 'tests.yml')]),
    /** The rule file changed after its tests were written. */
    alter: (from: string | RegExp, to: string) => {
      const text = rules.text.replace(from, to);
      expect(text).not.toBe(rules.text);
      writeFileSync(join(dir, 'rules.yml'), text);
    },
  };
}

interface TestDoc {
  rule_files: string[];
  tests: { name: string; alert_rule_test: { alertname: string; exp_alerts: unknown[] }[] }[];
}

const ODD_RULES = `
- name: negative
  query: temperature_celsius
  min: -40
  max: -5
  max-drop: 10%
- name: zero
  query: queue_free
  min: 0
  max-rise: 0%
- name: huge
  query: bytes_total
  max: 1e21
  max-drop: 100%
- name: tiny
  query: error_ratio
  max: 1e-9
  max-rise: 0
- name: only a drop
  query: sales
  max-drop: 0.5
  for: 4
  no-data: pass
`;

const CASES: [string, () => WatchSettings][] = [
  ['baseline before: every rule kind, SLO on errors', () => settingsOf(BEFORE_SETTINGS)],
  [
    'baseline hosts: per-host rise and drop against the fleet median, an SLO on good events over 7d',
    () =>
      settingsOf({
        ...BEFORE_SETTINGS,
        hosts: 'web1\nweb2',
        'canary-hosts': 'web2',
        baseline: 'hosts',
        duration: '2m',
        interval: '15s',
        rules: `
- name: cpu
  query: 1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle",instance=~"{host}:9100"}[1m]))
  max-rise: 25%
  for: 2
- name: queue
  query: queue_depth{host="{host}"}
  min: -100
  max: 100
  max-drop: 10
  max-rise: 30%
  no-data: pass
- name: checkout
  slo: 99.5%
  good: sum(rate(http_requests_total{code!~"5..",instance="{host}"}[{window}]))
  total: sum(rate(http_requests_total{instance="{host}"}[{window}]))
  window: 7d
  severity: ticket
  runbook: "https://wiki/{{ .Alert }}"
- name: compared with a floor
  query: latency{instance="{host}"}
  compare: true
  min: 1
`,
      }),
  ],
  ['hostile names, hosts, runbooks and environment (before:)', () => hostileSettings()],
  ['hostile names, hosts, runbooks and environment (hosts)', () => hostileSettings({ baseline: 'hosts' })],
  ['odd bounds: negative, zero, 1e21, 1e-9, 0% and 100%', () => settingsOf({ ...BEFORE_SETTINGS, rules: ODD_RULES })],
  [
    'a long baseline (before:7d) fed at a coarser step',
    () => settingsOf({ ...BEFORE_SETTINGS, baseline: 'before:7d', duration: '1h', interval: '30s' }),
  ],
  [
    'a sub-second interval (100ms), for 3',
    () => settingsOf({ ...BEFORE_SETTINGS, interval: '100ms', duration: '5s', baseline: 'before:10s' }),
  ],
  [
    'SLOs: 99% over 7d, 99.99% over 28d with for: 2',
    () =>
      settingsOf({
        ...BEFORE_SETTINGS,
        rules: `
- name: a
  slo: 99%
  good: sum(rate(ok_total[{window}]))
  total: sum(rate(all_total[{window}]))
  window: 7d
- name: b
  slo: 99.99%
  errors: sum(rate(bad_total[{window}]))
  total: sum(rate(all_total[{window}]))
  window: 28d
  for: 2
`,
      }),
  ],
  ['no hosts: {host} matches every value', () => settingsOf({ ...BEFORE_SETTINGS, hosts: '', 'canary-hosts': '' })],
];

describe('promtool check rules and promtool test rules (real promtool)', () => {
  test.each(CASES)(
    '%s',
    (_, settings) => {
      const g = generate(settings());
      expect(g.check()).toMatchObject({ code: 0, output: expect.stringContaining('SUCCESS') });
      const run = g.test();
      expect(run.output).toContain('SUCCESS');
      expect(run.code).toBe(0);
      expect(g.tests.warnings.filter((w) => w.startsWith('promtool tests'))).toEqual([]);
      // Every alert has a test where it fires and one where it stays quiet.
      const doc = parseYaml(g.tests.text) as TestDoc;
      expect(doc.rule_files).toEqual(['../rules.yml']);
      for (const a of g.rules.alerts) {
        const evals = doc.tests.flatMap((t) => t.alert_rule_test).filter((e) => e.alertname === a.alert);
        expect([a.alert, evals.some((e) => e.exp_alerts.length > 0)]).toEqual([a.alert, true]);
        expect([a.alert, evals.some((e) => e.exp_alerts.length === 0)]).toEqual([a.alert, true]);
      }
    },
    120_000,
  );

  test('the test file says what it tests, and is the same bytes for the same settings', () => {
    const a = promtoolTests(settingsOf(BEFORE_SETTINGS), 'fivestep.rules.yml');
    expect(a.text).toBe(promtoolTests(settingsOf({ ...BEFORE_SETTINGS }), 'fivestep.rules.yml').text);
    expect(a.text.split('\n').slice(0, 6)).toEqual([
      '# Generated by `fivestep rules --format promtool-tests` from the watch rules. Do not edit it by hand.',
      '# Run it with: promtool test rules <this file>',
      "# These tests feed fivestep:rule_value (and an SLO rule's recorded error ratios) directly, not the inputs of the",
      "# rules' queries: they test each alert's bounds, baseline and `for`, not the queries themselves.",
      '',
      'rule_files:',
    ]);
    expect(parseYaml(a.text).rule_files).toEqual(['fivestep.rules.yml']);
  });

  test('a rule whose query gives a value with no input series is left untested, with a warning; skipped rules carry over', () => {
    const g = generate(
      settingsOf({
        baseline: 'before:10m',
        rules: `- name: padded
  query: sum(rate(x_total[1m])) or vector(0)
  min: 1
- name: plain
  query: sum(rate(y_total[1m]))
  min: 1
- name: compared
  query: z
  compare: true`,
      }),
    );
    expect(g.tests.warnings).toEqual([
      "promtool tests: rule 'padded' is not tested: its query gives a value with no input series (vector(), absent(), " +
        'time(), a number), which would be recorded beside the series the tests feed',
    ]);
    expect(g.tests.skipped).toEqual(g.rules.skipped);
    expect(g.tests.skipped.map((s) => s.rule)).toEqual(['compared']);
    const doc = parseYaml(g.tests.text) as TestDoc;
    expect([...new Set(doc.tests.flatMap((t) => t.alert_rule_test.map((e) => e.alertname)))]).toEqual(['Plain']);
    expect(g.test()).toMatchObject({ code: 0 });
  }, 60_000);
});

describe('a rule file that differs from its rules fails its tests', () => {
  // Each alteration is made to the rule file after its tests were generated; promtool must fail, naming the alert.
  const ALTERATIONS: [string, string | RegExp, string, string][] = [
    ['a lower min', '{rule="users"} < 10', '{rule="users"} < 5', 'Users'],
    ['min no longer strict', '{rule="users"} < 10', '{rule="users"} <= 10', 'Users'],
    ['a higher max', '{rule="error rate"} > 0.05', '{rule="error rate"} > 0.06', 'ErrorRate'],
    ['another percent', '* 25 / 100', '* 30 / 100', 'CheckoutConversion'],
    ['another absolute drop', 'offset 5m) - 20)', 'offset 5m) - 25)', 'Revenue'],
    ['another rise percent', /\* 50 \/ 100/, '* 40 / 100', 'LatencyP99'],
    ['a longer for', /(alert: CheckoutConversion\n[^]*?)for: 1m/, '$1for: 2m', 'CheckoutConversion'],
    ['a shorter for', /(alert: LatencyP99\n[^]*?)for: 90s/, '$1for: 30s', 'LatencyP99'],
    [
      'no absent() clause',
      /\n {10}or\n {10}label_replace\(absent\(fivestep:rule_value\{rule="users"\}\)[^\n]*/,
      '',
      'Users',
    ],
    ['another SLO threshold', / > 0\.0144/g, ' > 0.015', 'CheckoutErrorsErrorBudgetBurn'],
    [
      'one window instead of two',
      ' and fivestep:slo_errors:ratio_rate5m',
      ' or fivestep:slo_errors:ratio_rate5m',
      'CheckoutErrorsErrorBudgetBurn',
    ],
    ['another severity', /(alert: Users\n[^]*?)severity: page/, '$1severity: ticket', 'Users'],
    [
      'another runbook',
      'runbook_url: "https://runbooks.example.com/error-rate"',
      'runbook_url: "https://x"',
      'ErrorRate',
    ],
  ];

  test('unaltered, the tests pass', () => {
    expect(generate(settingsOf(BEFORE_SETTINGS)).test()).toMatchObject({ code: 0 });
  }, 60_000);

  test.each(ALTERATIONS)(
    '%s',
    (_, from, to, alert) => {
      const g = generate(settingsOf(BEFORE_SETTINGS));
      g.alter(from, to);
      expect(g.check().code).toBe(0); // still a valid rule file
      const run = g.test();
      expect(run.code).not.toBe(0);
      expect(run.output).toContain('FAILED');
      expect(run.output).toContain(`alertname: ${alert},`);
    },
    60_000,
  );
});

describe('what the recording rules read, in real PromQL', () => {
  /** promtool evaluates `expr` over `series` (series → value) and must find exactly `expected`. */
  function evaluate(ruleFile: string, series: string[], expr: string, expected: string[]) {
    const dir = mkdtempSync(join(root, 'expr-'));
    writeFileSync(join(dir, 'rules.yml'), ruleFile);
    const doc = {
      rule_files: ['rules.yml'],
      evaluation_interval: '10s',
      tests: [
        {
          interval: '10s',
          input_series: series.map((s) => ({ series: s, values: '1x10' })),
          promql_expr_test: [{ expr, eval_time: '1m', exp_samples: expected.map((labels) => ({ labels, value: 1 })) }],
        },
      ],
    };
    writeFileSync(join(dir, 'tests.yml'), stringify(doc));
    return promtool(['test', 'rules', join(dir, 'tests.yml')]);
  }

  test('{host} matches the fleet’s hosts literally (`.` is no wildcard, `[::1]` no class); the rule label is the name', () => {
    // A recording rule's labels are no templates: the name is recorded word for word.
    const name = 'up {{ $labels.job }} "q" \\ | : #';
    const settings = settingsOf({
      interval: '10s',
      hosts: 'web1\n[::1]:9100\nweb.2-x',
      rules: stringify([{ name, query: 'up{instance="{host}", job="node"}', max: 5 }]),
    });
    const rule = 'rule="up {{ $labels.job }} \\"q\\" \\\\ | : #"';
    const run = evaluate(
      prometheusRules(settings).text,
      [
        'up{instance="web1", job="node"}',
        'up{instance="[::1]:9100", job="node"}',
        'up{instance="web.2-x", job="node"}',
        'up{instance="webX2-x", job="node"}',
        'up{instance=":9100", job="node"}',
        'up{instance="web1:9100", job="node"}',
        'up{instance="web1", job="other"}',
      ],
      'fivestep:rule_value',
      [
        `fivestep:rule_value{instance="web1", job="node", ${rule}}`,
        `fivestep:rule_value{instance="[::1]:9100", job="node", ${rule}}`,
        `fivestep:rule_value{instance="web.2-x", job="node", ${rule}}`,
      ],
    );
    expect(run).toMatchObject({ code: 0, output: expect.stringContaining('SUCCESS') });
  }, 60_000);

  test('hosts that arrive unvalidated (a rollout at run time) stay label values', () => {
    const settings = settingsOf({
      interval: '10s',
      rules: '- name: up\n  query: up{instance=~"{host}:.*"}\n  max: 5',
    });
    const text = prometheusRules({ ...settings, hosts: ['a|b', 'x"} or vector(1) or up{y="', '\\'] }).text;
    const run = evaluate(
      text,
      [
        'up{instance="a|b:1"}',
        'up{instance="a:1"}',
        'up{instance="b:1"}',
        'up{instance="\\\\:1"}',
        'up{instance="x:1"}',
      ],
      'fivestep:rule_value',
      ['fivestep:rule_value{instance="a|b:1", rule="up"}', 'fivestep:rule_value{instance="\\\\:1", rule="up"}'],
    );
    expect(run).toMatchObject({ code: 0, output: expect.stringContaining('SUCCESS') });
  }, 60_000);

  test('$value prints as goFloat says', () => {
    const values = [
      1234567.5,
      100000,
      999999,
      0.0001,
      0.00012345,
      -5,
      -0.5,
      1e21,
      123456789012345680000,
      0.30000000000000004,
      5e-324,
      1.7976931348623157e308,
      -1234567,
      12.5,
      1e-5,
      1e6,
      0.1,
      3,
      1 / 3,
      2 ** 53 + 2,
    ];
    const dir = mkdtempSync(join(root, 'value-'));
    writeFileSync(
      join(dir, 'rules.yml'),
      stringify({
        groups: [{ name: 'v', rules: [{ alert: 'V', expr: 'v', annotations: { summary: '{{ $value }}' } }] }],
      }),
    );
    const doc = {
      rule_files: ['rules.yml'],
      tests: [
        {
          interval: '1m',
          input_series: values.map((v, i) => ({ series: `v{i="${i}"}`, values: String(v) })),
          alert_rule_test: [
            {
              eval_time: '0m',
              alertname: 'V',
              exp_alerts: values.map((v, i) => ({
                exp_labels: { i: String(i) },
                exp_annotations: { summary: goFloat(v) },
              })),
            },
          ],
        },
      ],
    };
    writeFileSync(join(dir, 'tests.yml'), stringify(doc));
    expect(promtool(['test', 'rules', join(dir, 'tests.yml')])).toMatchObject({ code: 0 });
  }, 60_000);
});
