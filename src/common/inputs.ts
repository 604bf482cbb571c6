// Pure parsers for action inputs. Every value GitHub passes is a string; errors name the input at fault.

/** A bad input: the action stops before changing anything and prints this message. */
export class InputError extends Error {
  constructor(
    readonly input: string,
    message: string,
  ) {
    super(`input '${input}': ${message}`);
    this.name = 'InputError';
  }
}

/** Where raw input strings come from: the runner in production, a plain object in tests. */
export type InputSource = (name: string) => string;

/** Reads inputs from an object (tests, the `watch` YAML of ssh-rollout). Missing is ''. */
export function objectInputs(values: Record<string, string | number | boolean | undefined>): InputSource {
  return (name) => {
    const v = values[name];
    return v === undefined || v === null ? '' : String(v).trim();
  };
}

export function required(source: InputSource, name: string): string {
  const value = source(name).trim();
  if (value === '') throw new InputError(name, 'is required');
  return value;
}

export function optional(source: InputSource, name: string, fallback = ''): string {
  const value = source(name).trim();
  return value === '' ? fallback : value;
}

/** One item a line (commas also accepted); blank lines and `#` comments ignored. */
export function parseList(text: string, opts: { commas?: boolean } = {}): string[] {
  const commas = opts.commas ?? true;
  const items: string[] = [];
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    for (const part of commas ? line.split(',') : [line]) {
      const item = part.trim();
      if (item !== '') items.push(item);
    }
  }
  return items;
}

export function parseBool(name: string, text: string, fallback: boolean): boolean {
  const v = text.trim().toLowerCase();
  if (v === '') return fallback;
  if (['true', 'yes', 'on', '1'].includes(v)) return true;
  if (['false', 'no', 'off', '0'].includes(v)) return false;
  throw new InputError(name, `expected true or false, got '${text}'`);
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 };

/** `90`, `90s`, `5m`, `1h`, `250ms` → milliseconds. A bare number is seconds. */
export function parseDuration(name: string, text: string): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$/.exec(text);
  if (!m) throw new InputError(name, `'${text}' is not a duration (use e.g. 90, 90s, 5m, 1h)`);
  return Math.round(Number(m[1]) * DURATION_UNITS[m[2] ?? 's']);
}

export function parseInteger(name: string, text: string, opts: { min?: number; max?: number } = {}): number {
  if (!/^\s*-?\d+\s*$/.test(text)) throw new InputError(name, `'${text}' is not a whole number`);
  const n = Number(text);
  if (opts.min !== undefined && n < opts.min) throw new InputError(name, `must be at least ${opts.min}, got ${n}`);
  if (opts.max !== undefined && n > opts.max) throw new InputError(name, `must be at most ${opts.max}, got ${n}`);
  return n;
}

/** `N` or `N%`. */
export type Count = { kind: 'count'; value: number } | { kind: 'percent'; value: number };

export function parseCount(name: string, text: string): Count {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(%)?\s*$/.exec(text);
  if (!m) throw new InputError(name, `'${text}' is not a count (use N or N%)`);
  const value = Number(m[1]);
  if (m[2]) {
    if (value <= 0 || value > 100)
      throw new InputError(name, `'${text}': a percentage must be above 0% and at most 100%`);
    return { kind: 'percent', value };
  }
  if (!Number.isInteger(value)) throw new InputError(name, `'${text}' is not a whole number`);
  return { kind: 'count', value };
}

/** A percent of total, rounded up, at least 1 (Ansible `serial` semantics). */
export function resolveCount(count: Count, total: number, minimum = 1): number {
  if (count.kind === 'count') return count.value;
  return Math.max(minimum, Math.ceil((count.value * total) / 100));
}

export interface HostSpec {
  user: string;
  host: string;
  port: number;
}

const HOSTNAME =
  /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*\.?$/;
const IPV4 = /^(?:\d{1,3}\.){3}\d{1,3}$/;
const IPV6 = /^[0-9A-Fa-f:.]+$/;
const USER = /^[A-Za-z_][A-Za-z0-9._-]{0,31}$/;

/** `[user@]host[:port]`, IPv6 as `[::1]:22`. */
export function parseHostSpec(name: string, text: string, defaults: { user: string; port: number }): HostSpec {
  const t = text.trim();
  const m = /^(?:([^@\s]+)@)?(\[[^\]]+\]|[^:\s[\]]+)(?::(\d+))?$/.exec(t);
  if (!m) throw new InputError(name, `'${text}' is not [user@]host[:port]`);
  const user = m[1] ?? defaults.user;
  let host = m[2];
  if (host.startsWith('[')) {
    host = host.slice(1, -1);
    if (!IPV6.test(host)) throw new InputError(name, `'${text}': '${host}' is not an IPv6 address`);
  } else if (!(IPV4.test(host) || HOSTNAME.test(host))) {
    throw new InputError(name, `'${text}': '${host}' is not a valid host name or address`);
  }
  if (!USER.test(user)) throw new InputError(name, `'${text}': '${user}' is not a valid user name`);
  const port = m[3] === undefined ? defaults.port : Number(m[3]);
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new InputError(name, `'${text}': port must be 1-65535`);
  return { user, host, port };
}

/** A login name as `user` gives it (validated on its own so the error names `user`, not `hosts`). */
export function parseUser(name: string, text: string): string {
  if (!USER.test(text)) throw new InputError(name, `'${text}' is not a valid user name`);
  return text;
}

/** How a host is named in outputs and reports: `host:port`, IPv6 in brackets, never the user. */
export function hostId(h: { host: string; port: number }): string {
  return h.host.includes(':') ? `[${h.host}]:${h.port}` : `${h.host}:${h.port}`;
}
