// E-mail to the high-priority mailing list over SMTP (smtp:// with STARTTLS when offered, or smtps://). The
// password is in smtp-url, or in smtp-password for smtp-url's user (so it can come from a file of its own).
import nodemailer from 'nodemailer';
import { InputError } from '../../common/inputs.js';
import { alertSecrets } from '../redact.js';
import type { AlertContext, AlertSettings, WatchResult } from '../types.js';
import { alertSubject, alertText } from './message.js';

export type MailSettings = Pick<AlertSettings, 'smtpUrl' | 'smtpPassword' | 'emailFrom' | 'emailTo'>;

/**
 * The transport's options: smtp-url as it is, or with smtp-password, smtp-url without its user and an explicit
 * login (nodemailer would otherwise take the URL's user with an empty password over the login given).
 */
export function smtpTransportOptions(smtpUrl: string, smtpPassword: string): string | { url: string; auth: object } {
  if (!smtpPassword) return smtpUrl;
  const u = new URL(smtpUrl);
  if (u.password)
    throw new InputError('smtp-password', 'smtp-url holds a password too: give the password in one place');
  if (!u.username) throw new InputError('smtp-password', 'needs the user in smtp-url (smtp://USER@host:port)');
  const user = decodeURIComponent(u.username);
  u.username = '';
  return { url: u.href, auth: { user, pass: smtpPassword } };
}

/** What the SMTP login sends that is secret (smtp-password, also as AUTH PLAIN and AUTH LOGIN encode it). */
export function smtpPasswordSecrets(smtpUrl: string, smtpPassword: string): string[] {
  if (!smtpPassword || !smtpUrl) return smtpPassword ? [smtpPassword] : [];
  try {
    const u = new URL(smtpUrl);
    u.password = encodeURIComponent(smtpPassword);
    return [smtpPassword, ...alertSecrets({ pagerdutyRoutingKey: '', webhookUrl: '', smtpUrl: u.href })];
  } catch {
    return [smtpPassword];
  }
}

export async function sendEmail(mail: MailSettings, result: WatchResult, ctx: AlertContext): Promise<void> {
  const transport = nodemailer.createTransport(smtpTransportOptions(mail.smtpUrl, mail.smtpPassword), {});
  try {
    await transport.sendMail({
      from: mail.emailFrom,
      to: mail.emailTo,
      subject: alertSubject(result, ctx),
      text: alertText(result, ctx),
      priority: 'high',
    });
  } finally {
    transport.close();
  }
}
