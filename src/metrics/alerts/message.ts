// What an alert says: what breached, the value, the bound, since when, the rule's runbook and the link to the
// run. Pure.
import { fmt } from '../rules.js';
import type { AlertContext, FailOn, RuleReport, WatchResult } from '../types.js';

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

/** One rule that did not pass, in a line: `revenue per minute: below min 100 on web1: value 42, bound 100, since …`. */
export function ruleLine(r: RuleReport): string {
  const b = r.breach;
  if (!b) return `${r.name}: ${r.verdict}: ${r.reason}`;
  const host = b.host ? ` on ${b.host}` : '';
  const bound = b.bound !== null ? `, bound ${fmt(b.bound)}` : '';
  const baseline = b.baseline !== undefined ? `, baseline ${fmt(b.baseline)}` : '';
  return `${r.name}: ${b.detail}${host}: value ${fmt(b.value)}${bound}${baseline}, since ${b.since}`;
}

/** The rule's `runbook` (its breach carries it; a rule that is inconclusive has no breach). */
export function runbookOf(r: RuleReport): string | undefined {
  return r.breach?.runbook ?? r.rule.runbook;
}

/**
 * The failing rules, each as `• line` with `  Runbook: …` under it when the rule has one; `runbook` writes the
 * runbook for the channel (a link, or text made inert).
 */
export function ruleBlocks(result: WatchResult, runbook: (text: string) => string): string[] {
  return result.rules
    .filter((r) => r.verdict !== 'pass')
    .flatMap((r) => {
      const rb = runbookOf(r);
      return [`• ${ruleLine(r)}`, ...(rb ? [`  Runbook: ${runbook(rb)}`] : [])];
    });
}

/** The e-mail's text (plain text: the runbook as written). */
export function alertText(result: WatchResult, ctx: AlertContext): string {
  return [alertSubject(result, ctx), ...ruleBlocks(result, (rb) => rb), `Run: ${ctx.runUrl}`].join('\n');
}
