// PagerDuty Events API v2: one incident per rule, triggered on fail and resolved by a later passing watch
// through the same dedup_key.
import { createHash } from 'node:crypto';
import { fmt } from '../rules.js';
import type { AlertContext, RuleReport, WatchResult } from '../types.js';
import { answerText } from './answer.js';
import { httpLink } from '../../common/url.js';
import { runbookOf } from './message.js';

/** Stable across runs, so a later watch resolves the incident an earlier one opened. PagerDuty caps it at 255. */
export function dedupKey(repository: string, environment: string, rule: string): string {
  const key = `fivestep/${repository}/${environment || 'default'}/${rule}`;
  if (key.length <= 255) return key;
  return `${key.slice(0, 200)}#${createHash('sha256').update(key).digest('hex').slice(0, 32)}`;
}

export interface PagerDutyEvent {
  routing_key: string;
  event_action: 'trigger' | 'resolve';
  dedup_key: string;
  payload?: {
    summary: string;
    source: string;
    severity: 'critical' | 'error' | 'warning' | 'info';
    timestamp: string;
    component: string;
    group: string;
    class: string;
    custom_details: Record<string, unknown>;
  };
  client?: string;
  client_url?: string;
  links?: { href: string; text: string }[];
}

export function triggerEvent(
  routingKey: string,
  rule: RuleReport,
  result: WatchResult,
  ctx: AlertContext,
): PagerDutyEvent {
  const b = rule.breach;
  const env = result.settings.environment || 'default';
  const runbook = runbookOf(rule);
  // PagerDuty shows `links` as links: only an http(s) runbook is one; any runbook is in the details, as text.
  const runbookLink = runbook ? httpLink(runbook) : undefined;
  const what = b
    ? `${b.detail}${b.host ? ` on ${b.host}` : ''}: value ` +
      `${fmt(b.value)}${b.bound !== null ? `, bound ${fmt(b.bound)}` : ''}`
    : rule.reason;
  return {
    routing_key: routingKey,
    event_action: 'trigger',
    dedup_key: dedupKey(ctx.repository, result.settings.environment, rule.name),
    payload: {
      summary: `${ctx.repository} ${env}: ${rule.name}: ${what}`.slice(0, 1024),
      source: `${ctx.repository}/${env}`,
      severity: rule.verdict === 'fail' ? 'critical' : 'warning',
      timestamp: b?.when ?? result.endedAt,
      component: rule.name,
      group: env,
      class: b?.check ?? rule.verdict,
      custom_details: {
        query: rule.query,
        value: b?.value ?? null,
        bound: b?.bound ?? null,
        baseline: b?.baseline ?? null,
        host: b?.host ?? null,
        since: b?.since ?? null,
        verdict: rule.verdict,
        reason: rule.reason,
        run: ctx.runUrl,
        ...(runbook ? { runbook } : {}),
      },
    },
    client: 'fivestep metric-watch',
    client_url: ctx.runUrl,
    links: [
      { href: ctx.runUrl, text: 'Workflow run' },
      ...(runbookLink ? [{ href: runbookLink, text: 'runbook' }] : []),
    ],
  };
}

export function resolveEvent(
  routingKey: string,
  ruleName: string,
  result: WatchResult,
  ctx: AlertContext,
): PagerDutyEvent {
  return {
    routing_key: routingKey,
    event_action: 'resolve',
    dedup_key: dedupKey(ctx.repository, result.settings.environment, ruleName),
  };
}

export async function sendPagerDuty(url: string, event: PagerDutyEvent, timeoutMs = 10_000): Promise<void> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(event),
    signal: AbortSignal.timeout(timeoutMs),
  });
  // The Events API answers 202 Accepted; anything else (400 invalid, 429 throttled) did not page anyone.
  // The answer may echo the event, routing key and all (some proxies do).
  if (!res.ok) throw new Error(`PagerDuty answered HTTP ${res.status}: ${await answerText(res, [event.routing_key])}`);
  await res.body?.cancel().catch(() => undefined);
}
