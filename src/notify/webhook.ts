// Any webhook: the notification itself, POSTed as JSON (docs/configuration.md lists the fields).
import type { NotifyChannel } from './channel.js';
import { postJson } from './http-post.js';
import type { Notification } from './notification.js';
import { scrubbedError, secretsOf } from './scrub.js';

export function webhookChannel(url: string, timeoutMs: number): NotifyChannel {
  const secrets = secretsOf(url);
  return {
    name: 'webhook',
    // Path, query and user:password may each hold a token: only scheme, host and port are shown.
    target: new URL(url).origin,
    async send(n: Notification) {
      try {
        await postJson(url, n, timeoutMs);
      } catch (err) {
        throw scrubbedError((err as Error).message, secrets);
      }
    },
  };
}
