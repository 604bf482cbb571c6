// `fivestep check` as a Nagios/Icinga/Naemon plugin (pure): the result of a `once` watch → exit code and output, per
// the Monitoring Plugins development guidelines (https://www.monitoring-plugins.org/doc/guidelines.html).
//
// What each reading gives (a check is ONE reading of every rule; a rule's `for: N` is Nagios's own
// `max_check_attempts N`, which turns N failing checks in a row into a HARD state; the plugin never waits):
// - CRITICAL (2): a reading breaches the rule's bounds (min, max, or max-drop/max-rise against the baseline), or
//   has no data under `no-data: fail` (the default).
// - WARNING (1): a reading within the bounds crosses a `warn` bound (`warn.min`, `warn.max`).
// - UNKNOWN (3): the reading could not be taken: a query error (bad query, several series), the metric source
//   unreachable (whatever the rule's no-data policy: the metric was not seen, not seen missing), a relative bound
//   without a baseline value, no data under `no-data: inconclusive`; and a check where no rule can be judged.
//   An input error or a crash is UNKNOWN too (cli/check.ts).
// - OK (0): every reading within its bounds; no data under `no-data: pass`.
// - A `compare` rule needs readings over time to compare canaries with their baseline: one reading cannot judge
//   it, so it is listed as not checked and never makes the check CRITICAL (its bounds, if it has any, are).
// The worst state wins, in the order CRITICAL > UNKNOWN > WARNING > OK: a rule that cannot be read could be
// hiding a CRITICAL, so it outranks a WARNING (the status line still counts the others).
//
// Output: one status line, `FIVESTEP <STATE> - <summary> | <performance data>`, then one line per reading (long
// output, worst first). Performance data has every rule (per host: 'rule@host'): `'label'=value;warn;crit` with
// the thresholds as ranges (`min 100` → crit `100:`, `max 0.05` → `~:0.05`, both → `100:200`; max-drop/max-rise
// resolved against the reading's baseline), `U` for no value, numbers never in exponent form, no unit.
// Names and hosts are untrusted text: line breaks and control characters become a space and `|` (which would start
// performance data, in Nagios on any line, in Icinga 2 on every line) becomes `/`; in a label `'` and `=` become
// `_` (the guidelines allow neither in a label; Icinga 2 splits a label at its first `=`).
import { plural } from '../common/format.js';
import { clip } from '../common/text.js';
import { amount, boundsAt, fmt } from '../metrics/rules.js';
import type { RecordedSample, Rule, RuleReport, WatchResult } from '../metrics/types.js';

export type PluginState = 'OK' | 'WARNING' | 'CRITICAL' | 'UNKNOWN';
export type ExitCode = 0 | 1 | 2 | 3;

export const EXIT_CODES: Record<PluginState, ExitCode> = { OK: 0, WARNING: 1, CRITICAL: 2, UNKNOWN: 3 };

export interface PluginResult {
  exitCode: ExitCode;
  /** Every line of stdout, without the final line break. */
  output: string;
}

/** What one reading (or one rule that could not be read) says; 'NOT CHECKED' counts for nothing. */
interface Finding {
  state: PluginState | 'NOT CHECKED';
  rule: string;
  /** For the status line: short, without the server's words. */
  text: string;
  /** For the long output: with the reason. */
  detail: string;
}

/** A finding before it is tied to its rule. */
type Judged = Omit<Finding, 'rule'>;

interface PerfEntry {
  label: string;
  value: number | null;
  warn: string;
  crit: string;
}

/** The order the status line picks the worst by, and the long output is sorted by. */
const SEVERITY: Record<Finding['state'], number> = { CRITICAL: 4, UNKNOWN: 3, WARNING: 2, OK: 1, 'NOT CHECKED': 0 };

/** At most this many problems are named on the status line; the rest are counted. */
const NAMED = 3;

/** A reason quoted from a server or the source, in the long output. */
const MAX_REASON = 300;

/** The plugin's answer for a watch run once over every rule (runWatch with `once: true`). */
export function nagiosResult(result: WatchResult): PluginResult {
  const findings: Finding[] = [];
  const perf: PerfEntry[] = [];
  for (const report of result.rules) {
    const judged = judgeRule(report);
    findings.push(...judged.findings.map((f) => ({ ...f, rule: report.name })));
    perf.push(...judged.perf);
  }
  return pluginOutput(findings, perf);
}

/** UNKNOWN with a one-line reason: an input error, a crash, a timeout. */
export function pluginUnknown(reason: string): PluginResult {
  return { exitCode: 3, output: `FIVESTEP UNKNOWN - ${textOf(reason)}` };
}

function judgeRule(report: RuleReport): { findings: Judged[]; perf: PerfEntry[] } {
  const rule = report.rule;
  const name = textOf(rule.name);
  const compareOnly = !!rule.compare && !hasBounds(rule);
  const notChecked: Judged[] = rule.compare
    ? [
        {
          state: 'NOT CHECKED',
          text: `${name} (compare)`,
          detail:
            `${name}: compare (the canaries against their baseline) needs readings over time, which one check ` +
            'does not have: fivestep watch judges it',
        },
      ]
    : [];
  if (report.breach?.check === 'error') {
    const reason = clipped(report.breach.detail || report.reason);
    const perf = [perfEntry(rule, '', null, undefined)];
    if (compareOnly) return { findings: notChecked, perf };
    return {
      findings: [{ state: 'UNKNOWN', text: `${name}: query error`, detail: `${name}: query error: ${reason}` }],
      perf,
    };
  }
  // The last reading per host (a `once` watch has exactly one).
  const latest = new Map<string, RecordedSample>();
  for (const s of report.samples) latest.set(s.host, s);
  if (latest.size === 0) {
    const perf = [perfEntry(rule, '', null, undefined)];
    if (compareOnly) return { findings: notChecked, perf };
    return {
      findings: [{ state: 'UNKNOWN', text: `${name}: not read`, detail: `${name}: not read (the check ended first)` }],
      perf,
    };
  }
  const samples = [...latest.values()];
  const perf = samples.map((s) => perfEntry(rule, s.host, s.value, s.baseline));
  if (compareOnly) return { findings: notChecked, perf };
  return { findings: [...samples.map((s) => judgeSample(rule, s)), ...notChecked], perf };
}

const hasBounds = (rule: Rule) => [rule.min, rule.max, rule.maxDrop, rule.maxRise].some((b) => b !== undefined);

function judgeSample(rule: Rule, s: RecordedSample): Judged {
  const who = `${textOf(rule.name)}${s.host ? ` on ${textOf(s.host)}` : ''}`;
  if (s.value === null) {
    const reason = clipped(s.reason ?? 'no value');
    if (/^source (unreachable|error):/.test(s.reason ?? ''))
      return { state: 'UNKNOWN', text: `${who}: source unreachable`, detail: `${who}: ${reason}` };
    const state: PluginState = rule.noData === 'fail' ? 'CRITICAL' : rule.noData === 'inconclusive' ? 'UNKNOWN' : 'OK';
    return { state, text: `${who}: no data`, detail: `${who}: no data (no-data: ${rule.noData}): ${reason}` };
  }
  const is = `${who} is ${fmt(s.value)}`;
  if (s.state === 'no-data') {
    // A value, but a relative bound had no baseline value to be resolved against.
    const text = `${is}, no baseline value to compare with`;
    return { state: 'UNKNOWN', text, detail: text };
  }
  if (s.state === 'breach') {
    const text = `${is}, ${breachText(rule, s)}`;
    return { state: 'CRITICAL', text, detail: text };
  }
  const warn = rule.warn;
  if (warn?.min !== undefined && s.value < warn.min) {
    const text = `${is}, below warn ${fmt(warn.min)} (min ${fmt(rule.min)})`;
    return { state: 'WARNING', text, detail: text };
  }
  if (warn?.max !== undefined && s.value > warn.max) {
    const text = `${is}, above warn ${fmt(warn.max)} (max ${fmt(rule.max)})`;
    return { state: 'WARNING', text, detail: text };
  }
  const limits = limitsText(rule, s);
  return { state: 'OK', text: is, detail: `${is}${limits ? ` (${limits})` : ''}` };
}

function breachText(rule: Rule, s: RecordedSample): string {
  const bound = fmt(s.bound);
  const base = s.baseline === undefined || s.baseline === null ? '' : ` from baseline ${fmt(s.baseline)}`;
  switch (s.check) {
    case 'min':
      return `below min ${bound}`;
    case 'max':
      return `above max ${bound}`;
    case 'max-drop':
      return `below ${bound} (max-drop ${amount(rule.maxDrop!)}${base})`;
    case 'max-rise':
      return `above ${bound} (max-rise ${amount(rule.maxRise!)}${base})`;
    default:
      return `breach of ${s.check ?? 'a bound'} ${bound}`;
  }
}

/** The bounds a reading within them was held to, for the long output. */
function limitsText(rule: Rule, s: RecordedSample): string {
  const { lower, upper } = boundsAt(rule, s.baseline);
  const parts: string[] = [];
  if (lower !== undefined) parts.push(`min ${fmt(lower)}`);
  if (upper !== undefined) parts.push(`max ${fmt(upper)}`);
  if (rule.warn?.min !== undefined) parts.push(`warn min ${fmt(rule.warn.min)}`);
  if (rule.warn?.max !== undefined) parts.push(`warn max ${fmt(rule.warn.max)}`);
  if (rule.noData !== 'fail' && parts.length === 0) parts.push(`no-data: ${rule.noData}`);
  return parts.join(', ');
}

function perfEntry(rule: Rule, host: string, value: number | null, baseline: number | null | undefined): PerfEntry {
  const { lower, upper } = boundsAt(rule, baseline);
  return {
    label: `${rule.name}${host ? `@${host}` : ''}`,
    value,
    warn: range(rule.warn?.min, rule.warn?.max),
    crit: range(lower, upper),
  };
}

/** A threshold range of the guidelines: alert outside [lower, upper] (endpoints are within). */
export function range(lower: number | undefined, upper: number | undefined): string {
  const lo = lower !== undefined && Number.isFinite(lower) ? perfNumber(lower) : undefined;
  const hi = upper !== undefined && Number.isFinite(upper) ? perfNumber(upper) : undefined;
  if (lo !== undefined && hi !== undefined) return `${lo}:${hi}`;
  if (lo !== undefined) return `${lo}:`;
  if (hi !== undefined) return `~:${hi}`;
  return '';
}

/** `'label'=value;warn;crit`, trailing empty fields dropped. */
function perfText(p: PerfEntry): string {
  const fields = [p.value === null ? 'U' : perfNumber(p.value), p.warn, p.crit];
  while (fields.length > 1 && fields[fields.length - 1] === '') fields.pop();
  return `'${labelOf(p.label)}'=${fields.join(';')}`;
}

/** A number in the guidelines' class [-0-9.]: never `1e-7` or `1e+21`. */
export function perfNumber(n: number): string {
  if (n === 0) return '0';
  const s = String(n);
  const e = s.indexOf('e');
  if (e < 0) return s;
  const negative = s.startsWith('-');
  const mantissa = s.slice(negative ? 1 : 0, e);
  const exponent = Number(s.slice(e + 1));
  const [whole, fraction = ''] = mantissa.split('.');
  const digits = whole + fraction;
  const point = whole.length + exponent;
  let plain: string;
  if (point <= 0) plain = `0.${'0'.repeat(-point)}${digits}`;
  else if (point >= digits.length) plain = digits + '0'.repeat(point - digits.length);
  else plain = `${digits.slice(0, point)}.${digits.slice(point)}`;
  return `${negative ? '-' : ''}${plain}`;
}

function pluginOutput(findings: Finding[], perf: PerfEntry[]): PluginResult {
  const judged = findings.filter((f) => f.state !== 'NOT CHECKED');
  const notChecked = findings.filter((f) => f.state === 'NOT CHECKED');
  let state: PluginState = 'OK';
  for (const f of judged) if (SEVERITY[f.state] > SEVERITY[state]) state = f.state as PluginState;
  let summary: string;
  if (judged.length === 0) {
    state = 'UNKNOWN';
    summary = 'no rule can be judged from one reading';
  } else if (state === 'OK') {
    // A few readings are named with their values (what a person glancing at the service wants); many are counted.
    const rules = new Set(judged.map((f) => f.rule)).size;
    summary =
      judged.length <= NAMED
        ? judged.map((f) => f.text).join('; ')
        : `all ${judged.length} readings of ${plural(rules, 'rule')} within bounds`;
  } else {
    const worst = judged.filter((f) => f.state === state);
    const named = worst.slice(0, NAMED).map((f) => f.text);
    if (worst.length > NAMED) named.push(`and ${worst.length - NAMED} more`);
    summary = named.join('; ');
    const others = (['CRITICAL', 'UNKNOWN', 'WARNING'] as const)
      .filter((s) => s !== state)
      .map((s) => [s, judged.filter((f) => f.state === s).length] as const)
      .filter(([, n]) => n > 0)
      .map(([s, n]) => `${n} ${s}`);
    if (others.length) summary += ` (also ${others.join(', ')})`;
  }
  if (notChecked.length) summary += `; not checked: ${notChecked.map((f) => f.text).join(', ')}`;
  const sorted = [...findings].sort((a, b) => SEVERITY[b.state] - SEVERITY[a.state]);
  const lines = [
    `FIVESTEP ${state} - ${summary}${perf.length ? ` | ${perf.map(perfText).join(' ')}` : ''}`,
    ...sorted.map((f) => `${f.state}: ${f.detail}`),
  ];
  return { exitCode: EXIT_CODES[state], output: lines.join('\n') };
}

/**
 * Untrusted text for plugin output: one line (line breaks and other control characters become one space) and
 * no `|`, which would start performance data.
 */
export function textOf(text: string): string {
  // eslint-disable-next-line no-control-regex -- removing control characters is the point
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029]+/g, ' ').replace(/\|/g, '/');
}

/** A performance data label (quoted by perfText): one line, no `|`, and no `'` or `=`. */
export function labelOf(text: string): string {
  return textOf(text).replace(/['=]/g, '_');
}

const clipped = (reason: string) => clip(textOf(reason), MAX_REASON);
