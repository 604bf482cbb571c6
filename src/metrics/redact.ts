// Secrets out of what servers say. An endpoint may echo the request in its answer (some proxies do, in an
// error), so every text that came back from a server is redacted before it is kept in a result, a report,
// a summary or a log line. Pure.
import type { WatchSettings } from './types.js';

export const REDACTED = '***';

/** The forms a secret may come back in: as sent, inside a JSON string (also with `\/`), percent-encoded. */
function forms(secret: string): string[] {
  const json = JSON.stringify(secret).slice(1, -1);
  return [secret, json, json.replaceAll('/', '\\/'), encodeURIComponent(secret)];
}

function decoded(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

/** `text` with every occurrence of each secret (in any of its forms) replaced by `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  const all = [...new Set(secrets.filter((s) => s.trim() !== '').flatMap(forms))].sort((a, b) => b.length - a.length);
  let out = text;
  for (const s of all) if (out.includes(s)) out = out.replaceAll(s, REDACTED);
  return out;
}

/** The secret parts of a URL: all of it, its password, its path and query, each query value, long path segments. */
export function urlSecrets(url: string): string[] {
  if (!url) return [];
  const out = [url];
  try {
    const u = new URL(url);
    if (u.password) out.push(u.password, decoded(u.password));
    // An incoming webhook's path is its token (hooks.slack.com/services/T…/B…/XXXX): an echo of the request
    // line, or of one segment, must not show it.
    if (u.pathname.length > 1 || u.search) out.push(`${u.pathname}${u.search}`);
    for (const segment of u.pathname.split('/')) if (segment.length >= 16) out.push(segment, decoded(segment));
    for (const value of u.searchParams.values()) if (value) out.push(value);
  } catch {
    /* not a URL: the whole text is the secret */
  }
  return out;
}

/** An SMTP URL's password, also as AUTH PLAIN and AUTH LOGIN send it (base64), which a server may echo. */
function smtpSecrets(url: string): string[] {
  if (!url) return [];
  const out = [url];
  try {
    const u = new URL(url);
    const user = decoded(u.username);
    const pass = decoded(u.password);
    if (pass) {
      const b64 = (s: string) => Buffer.from(s, 'utf8').toString('base64');
      out.push(
        u.password,
        pass,
        b64(pass),
        b64(`\u0000${user}\u0000${pass}`),
        b64(`${user}\u0000${user}\u0000${pass}`),
      );
    }
  } catch {
    /* reported by the settings parser */
  }
  return out;
}

/** What the alert channels send that is secret: the routing key, the webhook URL's token, the SMTP password. */
export function alertSecrets(
  alerts: Pick<WatchSettings['alerts'], 'pagerdutyRoutingKey' | 'webhookUrl' | 'smtpUrl'>,
): string[] {
  return [alerts.pagerdutyRoutingKey, ...urlSecrets(alerts.webhookUrl), ...smtpSecrets(alerts.smtpUrl)].filter(
    (s) => s !== '',
  );
}

/**
 * What a metric source is sent that is secret: header values (and the token of `Bearer <token>`), the URL's
 * password.
 */
export function sourceSecrets(settings: Pick<WatchSettings, 'url' | 'headers'>): string[] {
  const out: string[] = [];
  for (const value of Object.values(settings.headers)) {
    if (!value) continue;
    out.push(value);
    const token = /^\S+\s+(\S{8,})$/.exec(value)?.[1];
    if (token) out.push(token);
  }
  try {
    const u = new URL(settings.url.replaceAll('{host}', 'host.invalid'));
    if (u.password) out.push(u.password, decoded(u.password));
  } catch {
    /* replay: a path */
  }
  return out;
}
