// What an alert says: what breached, the value, the bound, since when, and the link to the run. Pure.
import { fmt } from '../rules.js';
import type { AlertContext, FailOn, WatchResult } from '../types.js';

/**
 * Alert when the verdict is one the step fails on; `fail-on: never` still alerts on fail (report-only gate, live
 * pager).
 */
export function shouldAlert(result: Pick<WatchResult, 'verdict'>, failOn: FailOn): boolean {
  return result.verdict === 'fail' || (result.verdict === 'inconclusive' && failOn === 'inconclusive');
}

export function alertSubject(result: WatchResult, ctx: AlertContext): string {
  const env = result.settings.environment ? ` (${result.settings.environment})` : '';
  const failing = result.rules.filter((r) => r.verdict !== 'pass').map((r) => r.name);
  return `metric-watch ${result.verdict.toUpperCase()} on ${ctx.repository}${env}: ${failing.join(', ')}`;
}

/** One line a rule: `revenue per minute: 42 below min 100 on web1 since 2024-…`. */
export function ruleLines(result: WatchResult): string[] {
  return result.rules
    .filter((r) => r.verdict !== 'pass')
    .map((r) => {
      const b = r.breach;
      if (!b) return `${r.name}: ${r.verdict}: ${r.reason}`;
      const host = b.host ? ` on ${b.host}` : '';
      const bound = b.bound !== null ? `, bound ${fmt(b.bound)}` : '';
      const baseline = b.baseline !== undefined ? `, baseline ${fmt(b.baseline)}` : '';
      return `${r.name}: ${b.detail}${host}: value ${fmt(b.value)}${bound}${baseline}, since ${b.since}`;
    });
}

export function alertText(result: WatchResult, ctx: AlertContext): string {
  return [alertSubject(result, ctx), ...ruleLines(result).map((l) => `• ${l}`), `Run: ${ctx.runUrl}`].join('\n');
}
