// E-mail to the high-priority mailing list over SMTP (smtp:// with STARTTLS when offered, or smtps://).
import nodemailer from 'nodemailer';
import type { AlertContext, WatchResult } from '../types.js';
import { alertSubject, alertText } from './message.js';

export async function sendEmail(
  smtpUrl: string,
  from: string,
  to: string[],
  result: WatchResult,
  ctx: AlertContext,
): Promise<void> {
  const transport = nodemailer.createTransport(smtpUrl, {});
  try {
    await transport.sendMail({
      from,
      to,
      subject: alertSubject(result, ctx),
      text: alertText(result, ctx),
      priority: 'high',
    });
  } finally {
    transport.close();
  }
}
