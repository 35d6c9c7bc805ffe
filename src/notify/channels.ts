// The channels the configuration names, each able to send one notification. A channel knows
// nothing of retries or queues (sender.ts); it tries once and throws an error free of secrets.
import type { NotifySettings } from '../config/config.js';
import { emailChannel } from './email.js';
import type { Notification } from './notification.js';
import { slackChannel } from './slack.js';
import { webhookChannel } from './webhook.js';

export interface NotifyChannel {
  readonly name: 'slack' | 'webhook' | 'email';
  /** Where it sends, printable: no token, path or password. */
  readonly target: string;
  /** One attempt; rejects with an Error whose message names no secret. */
  send(n: Notification): Promise<void>;
  /** Releases connections kept for the next send. */
  close?(): void;
}

export interface ChannelOptions {
  /** How long one attempt may take (default 10 s). */
  timeoutMs?: number;
}

export const DEFAULT_SEND_TIMEOUT_MS = 10_000;

/** The keys that turn channels on, for the message that says none is. */
export const CHANNEL_KEYS =
  'PITR_NOTIFY_SLACK_WEBHOOK, PITR_NOTIFY_WEBHOOK_URL, or PITR_NOTIFY_EMAIL_TO with PITR_NOTIFY_EMAIL_FROM and PITR_SMTP_URL';

export function configuredChannels(settings: NotifySettings, options: ChannelOptions = {}): NotifyChannel[] {
  const timeoutMs = options.timeoutMs ?? DEFAULT_SEND_TIMEOUT_MS;
  const channels: NotifyChannel[] = [];
  if (settings.slackWebhook) channels.push(slackChannel(settings.slackWebhook, timeoutMs));
  if (settings.webhookUrl) channels.push(webhookChannel(settings.webhookUrl, timeoutMs));
  if (settings.email) channels.push(emailChannel(settings.email, timeoutMs));
  return channels;
}
