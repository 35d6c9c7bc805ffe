// What every notification channel is (slack.ts, webhook.ts, email.ts; channels.ts picks them).
import type { Notification } from './notification.js';

export interface NotifyChannel {
  readonly name: 'slack' | 'webhook' | 'email';
  /** Where it sends, printable: no token, path or password. */
  readonly target: string;
  /** One attempt; rejects with an Error whose message names no secret. */
  send(n: Notification): Promise<void>;
  /** Releases connections kept for the next send. */
  close?(): void;
}
