// `pitr notify --test`: the test message through every configured channel at once, each with a
// few quick attempts, so an operator sees at set-up time which channel works and why one does
// not. No queue and no long backoff: that is the agent's sender (sender.ts).
import { hostname } from 'node:os';
import type { Config } from '../config/config.js';
import { ConfigError } from '../errors.js';
import { parseRepoUrl } from '../storage/open.js';
import { CHANNEL_KEYS, configuredChannels, type NotifyChannel } from './channels.js';
import { testNotification, type Notification } from './notification.js';

export interface ChannelTestResult {
  name: NotifyChannel['name'];
  target: string;
  ok: boolean;
  /** From the first attempt to the success, or to the last failure. */
  ms: number;
  attempts: number;
  /** The last attempt's error (secret-free); null when it was sent. */
  error: string | null;
}

export interface TestOptions {
  attempts?: number;
  /** The waits between attempts; the last one repeats. */
  backoffMs?: readonly number[];
}

/** Sends the test message through every channel the configuration names; refuses when none is. */
export async function runNotifyTest(config: Config, options: TestOptions = {}): Promise<ChannelTestResult[]> {
  const channels = configuredChannels(config.notify);
  if (channels.length === 0) throw new ConfigError(`no notification channel is configured: set ${CHANNEL_KEYS}`);
  try {
    return await sendTestMessage(channels, testNotification(hostname(), repositoryLabel(config.repo)), options);
  } finally {
    for (const channel of channels) channel.close?.();
  }
}

export async function sendTestMessage(
  channels: readonly NotifyChannel[],
  notification: Notification,
  { attempts = 3, backoffMs = [500, 1000] }: TestOptions = {},
): Promise<ChannelTestResult[]> {
  return Promise.all(
    channels.map(async (channel): Promise<ChannelTestResult> => {
      const started = performance.now();
      for (let attempt = 1; ; attempt++) {
        const result = { name: channel.name, target: channel.target, attempts: attempt };
        try {
          await channel.send(notification);
          return { ...result, ok: true, ms: elapsed(started), error: null };
        } catch (err) {
          if (attempt >= attempts) return { ...result, ok: false, ms: elapsed(started), error: (err as Error).message };
        }
        await new Promise((resolve) => setTimeout(resolve, backoffMs[Math.min(attempt, backoffMs.length) - 1] ?? 0));
      }
    }),
  );
}

/** One line per channel: "slack (hooks.slack.com): sent in 120 ms". */
export function formatTestResults(results: readonly ChannelTestResult[]): string {
  return results
    .map((r) => {
      const outcome = r.ok
        ? `sent in ${r.ms} ms${r.attempts > 1 ? ` (attempt ${r.attempts})` : ''}`
        : `FAILED after ${r.attempts} attempt${r.attempts > 1 ? 's' : ''}: ${r.error}`;
      return `${r.name} (${r.target}): ${outcome}\n`;
    })
    .join('');
}

/** The repository as Storage.url shows it (file:///path/, s3://bucket/prefix/), without opening it. */
function repositoryLabel(repo: string | undefined): string {
  if (repo === undefined) return '(no repository configured)';
  const location = parseRepoUrl(repo);
  return location.kind === 'file' ? `file://${location.path}/` : `s3://${location.bucket}/${location.prefix ? `${location.prefix}/` : ''}`;
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
