// Sends every configured alert channel; a channel that fails is a warning, never a lost verdict.
import type { Logger } from '../../common/logger.js';
import type { AlertContext, WatchResult, WatchSettings } from '../types.js';
import { sendEmail, smtpPasswordSecrets } from './email.js';
import { shouldAlert } from './message.js';
import { resolveEvent, sendPagerDuty, triggerEvent } from './pagerduty.js';
import { postWebhook } from './webhook.js';
import { errorMessage } from '../../common/errors.js';
import { oneLine } from '../../common/text.js';
import { alertSecrets, redact } from '../redact.js';

/** At most this many characters of a failed channel's warning are kept (it goes into the report and summary). */
export const ALERT_WARNING_CHARS = 500;

/** Returns the warnings of channels that failed. */
export async function sendAlerts(
  result: WatchResult,
  settings: WatchSettings,
  ctx: AlertContext,
  logger: Logger,
): Promise<string[]> {
  const a = settings.alerts;
  const jobs: { channel: string; run: () => Promise<void> }[] = [];
  const alert = shouldAlert(result, settings.failOn);
  if (alert && a.webhookUrl) jobs.push({ channel: 'webhook', run: () => postWebhook(a.webhookUrl, result, ctx) });
  if (alert && a.smtpUrl && a.emailTo.length) jobs.push({ channel: 'e-mail', run: () => sendEmail(a, result, ctx) });
  if (a.pagerdutyRoutingKey) {
    if (alert) {
      for (const rule of result.rules.filter((r) => r.verdict !== 'pass')) {
        jobs.push({
          channel: `PagerDuty trigger '${rule.name}'`,
          run: () => sendPagerDuty(a.pagerdutyUrl, triggerEvent(a.pagerdutyRoutingKey, rule, result, ctx)),
        });
      }
    } else if (result.verdict === 'pass') {
      // Resolving an incident that is not open is a no-op at PagerDuty, so every rule is resolved.
      for (const rule of result.rules) {
        jobs.push({
          channel: `PagerDuty resolve '${rule.name}'`,
          run: () => sendPagerDuty(a.pagerdutyUrl, resolveEvent(a.pagerdutyRoutingKey, rule.name, result, ctx)),
        });
      }
    }
  }
  const warnings: string[] = [];
  const secrets = [...alertSecrets(a), ...smtpPasswordSecrets(a.smtpUrl, a.smtpPassword)];
  await Promise.all(
    jobs.map(async (job) => {
      try {
        await job.run();
        logger.info(`alert sent: ${job.channel}`);
      } catch (err) {
        // Whatever came back (an endpoint's answer, an SMTP server's reply) may echo a secret.
        const said = redact(`alert channel ${job.channel} failed: ${errorMessage(err)}`, secrets);
        const message = oneLine(said, ALERT_WARNING_CHARS);
        logger.warning(message);
        warnings.push(message);
      }
    }),
  );
  return warnings;
}
