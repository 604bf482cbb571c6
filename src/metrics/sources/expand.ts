// `{host}` into a URL or a PromQL query as data, never as syntax. Hosts are validated when read (settings.ts,
// as ssh-rollout's are); what lands in a query is escaped for where it lands all the same, since hosts also
// arrive at run time (ssh-rollout's waves).
import { QueryError } from './types.js';

/** A bare IPv6 address (`::1`, as ssh-rollout names a host) needs brackets in a URL's authority. */
const bareIpv6 = (host: string) => !host.startsWith('[') && (host.match(/:/g)?.length ?? 0) >= 2;

/** Percent-encoded for a path, query or fragment; `:` and `@` stay (valid there, and common in `host:port`). */
function urlPart(host: string): string {
  return encodeURIComponent(host).replace(/%3A/gi, ':').replace(/%40/gi, '@');
}

/**
 * `{host}` in a URL template: as written in the authority (`http://{host}:9100/metrics`; a bare IPv6 address
 * in brackets), percent-encoded in the path, query and fragment (`http://agg/hosts/{host}?h={host}`).
 */
export function expandUrl(template: string, host: string): string {
  if (!template.includes('{host}')) return template;
  const scheme = /^[a-z][a-z0-9+.-]*:\/\//i.exec(template);
  const start = scheme ? scheme[0].length : 0;
  const rest = template.slice(start).search(/[/?#]/);
  const authorityEnd = rest < 0 ? template.length : start + rest;
  const inAuthority = bareIpv6(host) ? `[${host}]` : host;
  return template.replace(/\{host\}/g, (_, at: number) => (scheme && at < authorityEnd ? inAuthority : urlPart(host)));
}

/** The content of a PromQL string literal quoted with `quote`: `\`, the quote and line breaks escaped (Go's rules). */
export function promqlString(text: string, quote: '"' | "'" = '"'): string {
  let out = '';
  for (const ch of text) {
    if (ch === '\\') out += '\\\\';
    else if (ch === quote) out += `\\${quote}`;
    else if (ch === '\n') out += '\\n';
    else if (ch === '\r') out += '\\r';
    else out += ch;
  }
  return out;
}

/** A regular expression (RE2 as Prometheus uses it, and JavaScript's) matching `text` literally. */
export function regexLiteral(text: string): string {
  return text.replace(/[\\.+*?()|[\]{}^$]/g, '\\$&');
}

type Quote = '"' | "'" | '`';
type Slot = { kind: 'code' } | { kind: 'comment' } | { kind: 'string'; quote: Quote; regex: boolean };

/** A string literal of a PromQL query, and the label matcher it is the value of, if any. */
export interface PromqlLiteral {
  /** Index of the opening quote, and one past the closing one (the query's length when it is unterminated). */
  start: number;
  end: number;
  quote: Quote;
  op?: '=' | '!=' | '=~' | '!~';
  label?: string;
  /** Offsets (into the query) of each `{host}` inside. */
  hosts: number[];
}

/** A matcher's label and operator, right before a string literal. */
const MATCHER_BEFORE = /([a-zA-Z_][a-zA-Z0-9_]*)?\s*(=~|!~|!=|=)\s*$/;

/**
 * The one scan of a PromQL query (or an openmetrics selector) that says where `{host}` stands: in code, in a `#`
 * comment, or in a string literal (with the matcher it is the value of). The watch expands `{host}` from it and
 * the exported rules turn it into a fleet-wide matcher from it, so both find it in the same places.
 */
export function scanPromql(query: string): { literals: PromqlLiteral[]; slots: { at: number; slot: Slot }[] } {
  const literals: PromqlLiteral[] = [];
  const slots: { at: number; slot: Slot }[] = [];
  let state: Slot = { kind: 'code' };
  let current: PromqlLiteral | undefined;
  for (let i = 0; i < query.length; i++) {
    const ch = query[i];
    if (query.startsWith('{host}', i)) {
      slots.push({ at: i, slot: state });
      if (state.kind === 'string') current!.hosts.push(i);
      i += '{host}'.length - 1;
      continue;
    }
    if (state.kind === 'comment') {
      if (ch === '\n') state = { kind: 'code' };
    } else if (state.kind === 'string') {
      if (ch === '\\' && state.quote !== '`') i++;
      else if (ch === state.quote) {
        current!.end = i + 1;
        literals.push(current!);
        state = { kind: 'code' };
      }
    } else if (ch === '#') {
      state = { kind: 'comment' };
    } else if (ch === '"' || ch === "'" || ch === '`') {
      const m = MATCHER_BEFORE.exec(query.slice(Math.max(0, i - 200), i));
      current = { start: i, end: query.length, quote: ch, hosts: [] };
      if (m) {
        current.op = m[2] as PromqlLiteral['op'];
        if (m[1]) current.label = m[1];
      }
      state = { kind: 'string', quote: ch, regex: current.op === '=~' || current.op === '!~' };
    }
  }
  if (state.kind === 'string') literals.push(current!);
  return { literals, slots };
}

/**
 * Where each `{host}` of a PromQL query (or an openmetrics selector) stands: in code, in a `#` comment, or in
 * a string literal (and whether that string is the value of a `=~` / `!~` regex matcher).
 */
export function hostSlots(query: string): { at: number; slot: Slot }[] {
  return scanPromql(query).slots;
}

/** True when a `{host}` of the query stands outside a string literal (where no escaping can keep it data). */
export function hostOutsideString(query: string): boolean {
  return hostSlots(query).some((s) => s.slot.kind === 'code');
}

/**
 * `{host}` in a PromQL query or an openmetrics selector: inside a string literal escaped for it (in a `=~` /
 * `!~` matcher also matched literally: `web1.example.com` does not match `web1xexample.com`), in a comment
 * on one line; outside a string it is refused (QueryError), since there a host would be PromQL syntax.
 */
export function expandPromQL(query: string, host: string): string {
  const slots = hostSlots(query);
  if (slots.length === 0) return query;
  let out = '';
  let from = 0;
  for (const { at, slot } of slots) {
    out += query.slice(from, at);
    from = at + '{host}'.length;
    if (slot.kind === 'code') {
      throw new QueryError(
        `{host} stands outside a quoted string in '${query}': put it in a label value, e.g. up{instance="{host}"}, ` +
          `where the host is escaped`,
      );
    }
    if (slot.kind === 'comment') out += host.replace(/[\r\n]/g, ' ');
    else {
      const text = slot.regex ? regexLiteral(host) : host;
      if (slot.quote === '`') {
        if (text.includes('`'))
          throw new QueryError(`host '${host}' cannot go into a \`raw\` string of '${query}'; use a "quoted" one`);
        out += text;
      } else out += promqlString(text, slot.quote);
    }
  }
  return out + query.slice(from);
}
