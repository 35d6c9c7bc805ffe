// The channels the configuration names, each able to send one notification. A channel knows
// nothing of retries or queues (sender.ts); it tries once and throws an error free of secrets.
import type { NotifySettings } from '../config/config.js';
import { emailChannel } from './email.js';
import type { NotifyChannel } from './channel.js';
import { slackChannel } from './slack.js';
import { webhookChannel } from './webhook.js';

export type { NotifyChannel } from './channel.js';

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
