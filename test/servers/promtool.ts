// Debian's promtool (`promtool check rules`, `promtool test rules`) and hostile watch settings for the exported
// rules' tests. (A Prometheus evaluating the exported rules on live metrics: ./prometheus.ts, with `ruleFiles`.)
import { spawnSync } from 'node:child_process';
import { stringify } from 'yaml';
import { objectInputs } from '../../src/common/inputs.js';
import { parseWatchSettings } from '../../src/metrics/settings.js';
import type { WatchSettings } from '../../src/metrics/types.js';
import { ensurePackages } from './system-packages.js';

export const PROMTOOL = '/usr/bin/promtool';

export interface PromtoolRun {
  code: number;
  /** stdout and stderr together. */
  output: string;
}

/** Runs promtool with `args` (in `cwd`), after making sure Debian's prometheus package is there. */
export function promtool(args: string[], cwd?: string): PromtoolRun {
  ensurePackages(['prometheus']);
  const r = spawnSync(PROMTOOL, args, { cwd, encoding: 'utf8', timeout: 120_000 });
  if (r.error) throw r.error;
  return { code: r.status ?? -1, output: `${r.stdout}${r.stderr}` };
}

/** Rule names, hosts, runbooks and an environment that break naive YAML, PromQL or Go templates. */
export const HOSTILE_NAMES = [
  `it's a "quoted" \\ back\\slash`,
  'multi\nline',
  'carriage\rreturn',
  '{{ .Labels }} and {{',
  '}}{{',
  '{{{{',
  'a | b',
  'key: # not a comment',
  '*&! anchor',
  '- dash',
  'yes',
  '1e3',
  'null',
  '~',
  'LS \u2028 NEL \u0085 NBSP \u00a0 BOM \ufeff DEL \u007f C1 \u0080',
  'tab\there',
  'emoji 🚀 日本',
  'per {host}',
  '`back`tick',
  '%s %v {}',
];

export const HOSTILE_RUNBOOK = `https://x/{{ .Alert }}?q="a"&b=\\ {{{ }}{{ {{- /* c */ -}} | : # *&!`;
export const HOSTILE_ENVIRONMENT = 'prod "{{ range }}" \\ {{ | : #';

/** Settings with every hostile name, one rule kind each in turn, and an SLO rule. */
export function hostileSettings(extra: Record<string, string> = {}): WatchSettings {
  const rules: Record<string, unknown>[] = HOSTILE_NAMES.map((name, i) => ({
    name,
    query: `up{instance="{host}", job="a\\"b\\\\c${i}"}`,
    ...[{ min: 1 }, { max: 5, 'max-drop': '20%' }, { 'max-rise': 2, 'no-data': 'pass' }][i % 3],
    ...(i % 2 ? { runbook: `${HOSTILE_RUNBOOK} ${i}` } : {}),
    ...(i % 4 === 3 ? { severity: 'ticket' } : {}),
  }));
  rules.push({
    name: 'slo "{{x}}"\n| 2',
    slo: '99.9%',
    errors: 'sum(rate(e{instance="{host}"}[{window}]))',
    total: 'sum(rate(t[{window}]))',
    runbook: '{{ template "x" }}',
  });
  return parseWatchSettings(
    objectInputs({
      source: 'prometheus',
      url: 'http://prometheus:9090',
      hosts: 'web1\n[::1]:9100\nweb.2-x',
      baseline: 'before:2m',
      duration: '1m',
      interval: '10s',
      environment: HOSTILE_ENVIRONMENT,
      rules: stringify(rules),
      ...extra,
    }),
    { env: {}, hostsAtRunTime: true },
  );
}
