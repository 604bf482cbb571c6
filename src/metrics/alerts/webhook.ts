// Slack-compatible incoming webhook: a JSON body with `text` (Mattermost, Rocket.Chat and Teams workflows take it too).
import { httpLink } from '../../common/url.js';
import { alertSubject, ruleBlocks } from './message.js';
import type { AlertContext, WatchResult } from '../types.js';
import { urlSecrets } from '../redact.js';
import { answerText } from './answer.js';

export async function postWebhook(
  url: string,
  result: WatchResult,
  ctx: AlertContext,
  timeoutMs = 10_000,
): Promise<void> {
  const icon = result.verdict === 'fail' ? ':rotating_light:' : ':warning:';
  const text = [
    `${icon} *${alertSubject(result, ctx)}*`,
    ...ruleBlocks(result, slackRunbook),
    `<${ctx.runUrl}|Workflow run>`,
  ].join('\n');
  const res = await fetch(url, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ text }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  // The URL is the webhook's secret; the answer may echo the request line.
  if (!res.ok) throw new Error(`webhook answered HTTP ${res.status}: ${await answerText(res, urlSecrets(url))}`);
  await res.body?.cancel().catch(() => undefined);
}

/**
 * A runbook in Slack's text: an http(s) URL as a link (`<url>`); anything else as text that opens nothing:
 * `&`, `<` and `>` as Slack's entities (no `<!channel>`, `<@U…>` or `<url|text>` of its own), and `@` followed
 * by a zero-width space (no `@channel` where a receiver reads mentions in plain text).
 */
export function slackRunbook(runbook: string): string {
  const link = httpLink(runbook);
  if (link) return `<${link.replace(/&/g, '&amp;')}>`;
  return runbook.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/@/g, '@\u200b');
}
