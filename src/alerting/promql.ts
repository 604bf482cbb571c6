// The pieces of the exported Prometheus rules that hold untrusted text, each escaped for where it lands: a rule's
// query with `{host}` turned into one matcher for the whole fleet, PromQL string literals, alert names, Go templates
// (alert labels and annotations are templates), Go's printing of `$value`, and YAML that Go's parsers read back as
// the value written. Pure.
import { Scalar, visit, type Document } from 'yaml';
import { matchHosts } from '../metrics/watch-hosts.js';
import { promqlString, regexLiteral, scanPromql, type PromqlLiteral } from '../metrics/sources/expand.js';
import type { WatchSettings } from '../metrics/types.js';

/** The series every exported rule's value is recorded as, one per rule (label `rule`). */
export const RULE_VALUE = 'fivestep:rule_value';

/** The series an SLO rule's error ratio over `window` is recorded as. */
export const sloRatioSeries = (window: string) => `fivestep:slo_errors:ratio_rate${window}`;

/** `series{rule="name"}`: the name as a PromQL string, whatever it holds. */
export function ruleSelector(series: string, rule: string, extra: Record<string, string> = {}): string {
  const labels = [['rule', rule], ...Object.entries(extra)].map(([k, v]) => `${k}="${promqlString(v)}"`);
  return `${series}{${labels.join(', ')}}`;
}

/** A number as PromQL (and promtool's series notation) reads it back: the shortest text that is the same double. */
export function promqlNumber(n: number): string {
  return String(n);
}

/**
 * The hosts `{host}` stands for: the watch's hosts and the canaries not among them (as the watch reads them), or,
 * with none given (a rollout's waves give them at run time), every value.
 */
export function fleetHosts(settings: Pick<WatchSettings, 'hosts' | 'canaryHosts'>): string[] {
  const all = [...settings.hosts];
  for (const c of settings.canaryHosts) if (matchHosts(all, [c]).length === 0) all.push(c);
  return [...new Set(all)];
}

/** A regular expression (RE2) matching any of `hosts` literally, or anything (`.+`) when there are none. */
export function hostsRegex(hosts: readonly string[]): string {
  return hosts.length === 0 ? '.+' : `(?:${hosts.map(regexLiteral).join('|')})`;
}

export type FleetQuery =
  | { ok: true; query: string; /** The label whose matcher held `{host}` (for alert text). */ hostLabel?: string }
  | { ok: false; reason: string };

type Quote = PromqlLiteral['quote'];

const SIMPLE_ESCAPES: Record<string, number> = { a: 7, b: 8, f: 12, n: 10, r: 13, t: 9, v: 11, '\\': 92 };

/** The text a PromQL string literal's content (between its quotes) stands for, by Go's rules; undefined if invalid. */
export function unquotePromql(content: string, quote: Quote): string | undefined {
  if (quote === '`') return content;
  const bytes: number[] = [];
  const utf8 = (s: string) => bytes.push(...Buffer.from(s, 'utf8'));
  for (let i = 0; i < content.length; i++) {
    const ch = content[i];
    if (ch !== '\\') {
      const cp = content.codePointAt(i)!;
      const c = String.fromCodePoint(cp);
      utf8(c);
      i += c.length - 1;
      continue;
    }
    const e = content[++i];
    if (e === undefined) return undefined;
    if (e in SIMPLE_ESCAPES) bytes.push(SIMPLE_ESCAPES[e]);
    else if (e === quote) bytes.push(quote.charCodeAt(0));
    else if (e === 'x' || e === 'u' || e === 'U') {
      const n = e === 'x' ? 2 : e === 'u' ? 4 : 8;
      const hex = content.slice(i + 1, i + 1 + n);
      if (!new RegExp(`^[0-9a-fA-F]{${n}}$`).test(hex)) return undefined;
      const v = parseInt(hex, 16);
      if (e === 'x') bytes.push(v);
      else if (v > 0x10ffff || (v >= 0xd800 && v <= 0xdfff)) return undefined;
      else utf8(String.fromCodePoint(v));
      i += n;
    } else if (/[0-7]/.test(e)) {
      const oct = content.slice(i, i + 3);
      if (!/^[0-7]{3}$/.test(oct) || parseInt(oct, 8) > 255) return undefined;
      bytes.push(parseInt(oct, 8));
      i += 2;
    } else return undefined;
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/** The content of a literal quoted with `quote` that stands for `text` (raw strings hold no escapes). */
function quoted(text: string, quote: Quote): string | undefined {
  if (quote !== '`') return promqlString(text, quote);
  return text.includes('`') ? undefined : text;
}

/**
 * A rule's query for the whole fleet: `{host}` in a label matcher's value becomes a regex matcher over `hosts`
 * (`instance="{host}:9100"` → `instance=~"(?:web1|web2):9100"`, the fixed parts matched literally), in a `=~` matcher
 * the same alternation. `{host}` in a `!=` or `!~` matcher, in a string that is no matcher's value, or outside a
 * string has no form for the fleet: the answer says why. `{host}` in a comment stays as written.
 */
export function fleetQuery(query: string, hosts: readonly string[]): FleetQuery {
  const { literals, slots } = scanPromql(query);
  if (slots.some((s) => s.slot.kind === 'code'))
    return { ok: false, reason: `{host} stands outside a quoted label value in its query` };
  const alternation = hostsRegex(hosts);
  let out = '';
  let from = 0;
  let hostLabel: string | undefined;
  for (const lit of literals) {
    if (lit.hosts.length === 0) continue;
    const what = `{host} stands in the ${lit.op ?? 'string'} ${lit.op ? `matcher of ${lit.label ?? 'a label'}` : ''}`;
    if (lit.op === '!=' || lit.op === '!~')
      return {
        ok: false,
        reason: `${what.trim()}: "every host but this one" has no form for the whole fleet`,
      };
    if (lit.op !== '=' && lit.op !== '=~')
      return {
        ok: false,
        reason:
          "{host} stands in a string that is not a label matcher's value (e.g. label_replace's): a whole fleet " +
          'has no one value to put there',
      };
    if (lit.end === query.length && query[lit.end - 1] !== lit.quote)
      return { ok: false, reason: 'its query has an unterminated string' };
    // The recorded series' `rule` label is the rule's name, and `__…` labels do not survive a recording.
    if (lit.label && lit.label !== 'rule' && !lit.label.startsWith('__')) hostLabel ??= lit.label;
    const content = query.slice(lit.start + 1, lit.end - 1);
    const offsets = lit.hosts.map((at) => at - lit.start - 1);
    let value: string | undefined;
    if (lit.op === '=~') {
      // Already a regex: the alternation goes where each {host} stands, escaped for the literal's quote.
      const alt = quoted(alternation, lit.quote);
      if (alt === undefined) return { ok: false, reason: 'a host cannot go into a `raw` string of its query' };
      value = '';
      let at = 0;
      for (const o of offsets) {
        value += content.slice(at, o) + alt;
        at = o + '{host}'.length;
      }
      value += content.slice(at);
    } else {
      // An equality: its fixed parts (as the string stands for them) are matched literally around the alternation.
      const pieces: string[] = [];
      let at = 0;
      for (const o of [...offsets, content.length]) {
        const piece = unquotePromql(content.slice(at, o), lit.quote);
        if (piece === undefined)
          return { ok: false, reason: `its query's string ${query.slice(lit.start, lit.end)} is not a valid literal` };
        pieces.push(regexLiteral(piece));
        at = o + '{host}'.length;
      }
      value = quoted(pieces.join(alternation), lit.quote);
      if (value === undefined) return { ok: false, reason: 'a host cannot go into a `raw` string of its query' };
    }
    // `=` becomes `=~`: the operator ends right before the literal (spaces aside).
    const opEnd = lit.op === '=' ? query.lastIndexOf('=', lit.start) + 1 : lit.start;
    out += query.slice(from, opEnd) + (lit.op === '=' ? '~' : '') + query.slice(opEnd, lit.start + 1) + value;
    out += lit.quote;
    from = lit.end;
  }
  out += query.slice(from);
  return { ok: true, query: out, ...(hostLabel ? { hostLabel } : {}) };
}

/**
 * Whether a query can give a value with no input series at all (`vector(0)`, `absent()`, `time()`, a number): its
 * recording then also records in a promtool test, beside the series the test feeds.
 */
export function valueWithoutSeries(query: string): boolean {
  const code = query.replace(/"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*'|`[^`]*`|#.*/g, '""');
  return (
    /\b(vector|absent|absent_over_time|time|scalar|pi)\s*\(/.test(code) ||
    /\b(year|month|day_of_month|day_of_week|day_of_year|days_in_month|hour|minute)\s*\(\s*\)/.test(code) ||
    !/[a-zA-Z_:]/.test(code.replace(/\d[eE][+-]?\d/g, ''))
  );
}

/** An alert name from a rule name: its ASCII letters and digits in CamelCase, starting with a letter. */
export function alertBaseName(rule: string): string {
  const words = rule.match(/[A-Za-z0-9]+/g) ?? [];
  const camel = words.map((w) => w[0].toUpperCase() + w.slice(1)).join('');
  return /^[A-Za-z]/.test(camel) ? camel : `Rule${camel}`;
}

/**
 * Unique alert names: `suffixes` are the names one rule needs (`''`, or `ErrorBudgetBurn` and `…Slow`); the base
 * gets 2, 3, … until none of them is taken.
 */
export function claimAlertNames(rule: string, suffixes: readonly string[], taken: Set<string>): string {
  const base = alertBaseName(rule);
  for (let n = 1; ; n++) {
    const candidate = n === 1 ? base : `${base}${n}`;
    if (suffixes.every((s) => !taken.has(candidate + s))) {
      for (const s of suffixes) taken.add(candidate + s);
      return candidate;
    }
  }
}

/** Text for a Go template that prints as itself: each `{{` (which would open an action) written as an action. */
export function templateText(text: string): string {
  return text.replaceAll('{{', '{{ "{{" }}');
}

/** A part of an annotation: fixed text, a label of the alert's series, its value, or a choice on a label. */
export type TemplatePart =
  string | { label: string } | { value: true } | { ifLabel: string; then: TemplatePart[]; else?: TemplatePart[] };

/** The Go template of an annotation (fixed text escaped, so only the parts generated here are actions). */
export function goTemplate(parts: readonly TemplatePart[]): string {
  return parts
    .map((p) => {
      if (typeof p === 'string') return templateText(p);
      if ('label' in p) return `{{ $labels.${p.label} }}`;
      if ('value' in p) return '{{ $value }}';
      const otherwise = p.else ? `{{ else }}${goTemplate(p.else)}` : '';
      return `{{ if $labels.${p.ifLabel} }}${goTemplate(p.then)}${otherwise}{{ end }}`;
    })
    .join('');
}

/** What Prometheus makes of goTemplate(parts) for an alert with these labels and value (promtool's expectations). */
export function renderTemplate(parts: readonly TemplatePart[], labels: Record<string, string>, value: number): string {
  return parts
    .map((p) => {
      if (typeof p === 'string') return p;
      if ('label' in p) return labels[p.label] ?? '';
      if ('value' in p) return goFloat(value);
      return labels[p.ifLabel] ? renderTemplate(p.then, labels, value) : renderTemplate(p.else ?? [], labels, value);
    })
    .join('');
}

/**
 * A float64 as Prometheus prints `{{ $value }}` (Go's %v: strconv's 'g' with the shortest digits): in exponent form
 * when the decimal exponent is below -4 or at least 6 (`1e+06`, `1.2345675e+06`, `1e-05`), else as a decimal.
 */
export function goFloat(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  if (n === 0) return Object.is(n, -0) ? '-0' : '0';
  const [mantissa, expText] = n.toExponential().split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 6) {
    return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  return String(n);
}

/** Characters Go's YAML parsers take as line breaks (NEL, LS, PS) or refuse (DEL, C1 controls, BOM, non-characters). */
// eslint-disable-next-line no-control-regex
const YAML_UNSAFE = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\ufeff\ufffe\uffff]|[\ud800-\udfff]/u;

/** An untrusted value: always a double-quoted scalar, whatever it holds (the only style that can escape anything). */
export function untrusted(value: string): Scalar<string> {
  const node = new Scalar(value);
  node.type = Scalar.QUOTE_DOUBLE;
  return node;
}

/**
 * The document as text that Go's YAML parsers (yaml.v3 for rule files, yaml.v2 for promtool's tests) read back as
 * the values written: every string holding a character they would break a line at or refuse is double-quoted, and
 * that character written as an escape.
 */
export function goYaml(doc: Document): string {
  visit(doc, {
    Scalar(_, node) {
      if (typeof node.value === 'string' && (YAML_UNSAFE.test(node.value) || node.value.includes('\r')))
        node.type = Scalar.QUOTE_DOUBLE;
    },
  });
  const text = doc.toString({ lineWidth: 0 });
  return text.replace(new RegExp(YAML_UNSAFE.source, 'gu'), (ch) => {
    const cp = ch.codePointAt(0)!;
    return cp >= 0xd800 && cp <= 0xdfff ? '\\ufffd' : `\\u${cp.toString(16).padStart(4, '0')}`;
  });
}
