// Slack incoming webhooks: a POST of {"text": ...}, rendered with Slack's own markup.
import type { NotifyChannel } from './channel.js';
import { postJson } from './http-post.js';
import { headline, type Notification } from './notification.js';
import { scrubbedError, secretsOf } from './scrub.js';

export function slackChannel(webhookUrl: string, timeoutMs: number): NotifyChannel {
  const secrets = secretsOf(webhookUrl);
  return {
    name: 'slack',
    // The path is the token: only the host is shown.
    target: new URL(webhookUrl).host,
    async send(n) {
      try {
        await postJson(webhookUrl, { text: slackText(n) }, timeoutMs);
      } catch (err) {
        throw scrubbedError((err as Error).message, secrets);
      }
    },
  };
}

/** A few lines a person reads in the channel: what, where, since when, what to do. */
export function slackText(n: Notification): string {
  const mark = n.event === 'test' ? ':information_source:' : n.status === 'failing' ? ':red_circle:' : ':large_green_circle:';
  const lines = [`${mark} *${headline(n)}*`, n.message];
  if (n.since) lines.push(`Since: ${n.since}`);
  if (n.fix) lines.push(`What to do: ${n.fix}`);
  lines.push(`Time: ${n.time}`);
  return lines.join('\n');
}
