// The notification channels' settings (PITR_NOTIFY_*, PITR_SMTP_URL), checked when the
// configuration loads. The three URLs carry tokens or passwords: an error names the key and
// what is wrong, never the value.
import { ConfigError } from '../errors.js';
import { parseDuration } from './duration.js';

export interface NotifySettings {
  slackWebhook?: string;
  webhookUrl?: string;
  email?: { to: string[]; from: string; smtpUrl: string };
  /** The first retry delay of a channel that is down; it doubles up to 5 minutes. */
  retryMs: number;
}

/** What loadConfig reads, unchecked: unset or empty values are undefined. */
export interface NotifyValues {
  slackWebhook?: string;
  webhookUrl?: string;
  smtpUrl?: string;
  emailTo?: string;
  emailFrom?: string;
  retry?: string;
}

/** `label` names a key the way errors do ("PITR_NOTIFY_EMAIL_TO (--notify-email-to)"). */
export function notifySettings(values: NotifyValues, label: (key: NotifyKey) => string): NotifySettings {
  return {
    slackWebhook: checkedUrl(
      values.slackWebhook,
      ['http:', 'https:'],
      label('PITR_NOTIFY_SLACK_WEBHOOK'),
      'https://hooks.slack.com/services/…',
    ),
    webhookUrl: checkedUrl(values.webhookUrl, ['http:', 'https:'], label('PITR_NOTIFY_WEBHOOK_URL'), 'https://host/path'),
    email: emailSettings(values, label),
    retryMs: retryDelay(values.retry, label('PITR_NOTIFY_RETRY')),
  };
}

export type NotifyKey =
  | 'PITR_NOTIFY_SLACK_WEBHOOK'
  | 'PITR_NOTIFY_WEBHOOK_URL'
  | 'PITR_SMTP_URL'
  | 'PITR_NOTIFY_EMAIL_TO'
  | 'PITR_NOTIFY_EMAIL_FROM'
  | 'PITR_NOTIFY_RETRY';

function checkedUrl(value: string | undefined, protocols: string[], name: string, example: string): string | undefined {
  if (value === undefined) return undefined;
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new ConfigError(`${name} is not a URL (its value is a secret, not shown): give one like ${example}`);
  }
  if (!protocols.includes(url.protocol) || url.hostname === '')
    throw new ConfigError(
      `${name} must be a ${protocols.map((p) => p.slice(0, -1)).join(' or ')} URL with a host (its value is a secret, not shown): give one like ${example}`,
    );
  return value;
}

function emailSettings(values: NotifyValues, label: (key: NotifyKey) => string): NotifySettings['email'] {
  const to = (values.emailTo ?? '')
    .split(',')
    .map((a) => a.trim())
    .filter((a) => a !== '');
  const given: [NotifyKey, boolean][] = [
    ['PITR_NOTIFY_EMAIL_TO', to.length > 0],
    ['PITR_NOTIFY_EMAIL_FROM', values.emailFrom !== undefined],
    ['PITR_SMTP_URL', values.smtpUrl !== undefined],
  ];
  const missing = given.filter(([, set]) => !set).map(([key]) => label(key));
  if (missing.length === 3) return undefined;
  if (missing.length > 0) {
    const set = given.filter(([, isSet]) => isSet).map(([key]) => key);
    throw new ConfigError(
      `e-mail notifications need PITR_NOTIFY_EMAIL_TO, PITR_NOTIFY_EMAIL_FROM and PITR_SMTP_URL; ${set.join(' and ')} ${set.length > 1 ? 'are' : 'is'} set but ${missing.join(' and ')} ${missing.length > 1 ? 'are' : 'is'} not: set ${missing.length > 1 ? 'them' : 'it'}, or unset the others`,
    );
  }
  for (const address of to) checkedAddress(address, label('PITR_NOTIFY_EMAIL_TO'));
  const from = checkedAddress(values.emailFrom!.trim(), label('PITR_NOTIFY_EMAIL_FROM'));
  const smtpUrl = checkedUrl(
    values.smtpUrl,
    ['smtp:', 'smtps:'],
    label('PITR_SMTP_URL'),
    'smtp://user:password@mail.example.com:587 or smtps://…:465',
  )!;
  return { to, from, smtpUrl };
}

/** Only the shape: something@domain, or `Name <something@domain>`; the mail server judges the rest. */
const ADDRESS = /^[^\s@<>,"]+@[^\s@<>,"]+$/;
const NAMED_ADDRESS = /^[^<>@,]*<([^<>]+)>$/;

function checkedAddress(address: string, name: string): string {
  const bare = NAMED_ADDRESS.exec(address)?.[1]?.trim() ?? address;
  if (!ADDRESS.test(bare)) throw new ConfigError(`${name}: "${address}" is not an e-mail address (user@example.com)`);
  return address;
}

const DEFAULT_RETRY_MS = 5_000;

function retryDelay(value: string | undefined, name: string): number {
  if (value === undefined) return DEFAULT_RETRY_MS;
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) throw new ConfigError(`${name} "${value}" is not a duration: write it as 5s, 1m or 2h`);
  return ms;
}
