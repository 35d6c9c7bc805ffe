// E-mail through an SMTP server (nodemailer): a subject that says it all, and a plain-text
// body with every field. nodemailer is loaded at the first send, not with the channel list.
import type { Transporter } from 'nodemailer';
import type { NotifyChannel } from './channel.js';
import { detailLines, headline, type Notification } from './notification.js';
import { scrubbedError, secretsOf } from './scrub.js';

export interface EmailSettings {
  to: string[];
  from: string;
  smtpUrl: string;
}

export function emailChannel(settings: EmailSettings, timeoutMs: number): NotifyChannel {
  const secrets = secretsOf(settings.smtpUrl);
  let transport: Transporter | undefined;
  const open = async (): Promise<Transporter> => {
    const { createTransport } = await import('nodemailer');
    // One transport for every message: it holds the parsed URL and the credentials.
    transport ??= createTransport({
      url: settings.smtpUrl,
      connectionTimeout: timeoutMs,
      greetingTimeout: timeoutMs,
      socketTimeout: timeoutMs,
      dnsTimeout: timeoutMs,
    });
    return transport;
  };
  return {
    name: 'email',
    target: `to ${settings.to.join(', ')} via ${smtpServer(settings.smtpUrl)}`,
    async send(n) {
      try {
        await (await open()).sendMail({ from: settings.from, to: settings.to, subject: emailSubject(n), text: emailText(n) });
      } catch (err) {
        throw scrubbedError((err as Error).message, secrets);
      }
    },
    close() {
      transport?.close();
      transport = undefined;
    },
  };
}

/** "[pitr] FAILING: archiving on db1 (s3://bucket/x/)" */
export function emailSubject(n: Notification): string {
  return `[pitr] ${headline(n)}`;
}

export function emailText(n: Notification): string {
  return `${[headline(n), '', ...detailLines(n)].join('\n')}\n`;
}

/** host:port, with nodemailer's default ports (465 for smtps, else 587). */
function smtpServer(smtpUrl: string): string {
  const url = new URL(smtpUrl);
  return `${url.hostname}:${url.port || (url.protocol === 'smtps:' ? 465 : 587)}`;
}
