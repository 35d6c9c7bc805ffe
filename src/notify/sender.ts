// Delivers notifications to every channel, each through its own queue and loop: a channel that
// is down (Slack unreachable, the mail server refusing) retries with backoff until it delivers,
// and never holds up the others. Its health is reported once per change, not per attempt.
import type { Logger } from '../log.js';
import type { NotifyChannel } from './channel.js';
import type { Notification } from './notification.js';

export interface ChannelState {
  name: NotifyChannel['name'];
  target: string;
  /** False after UNHEALTHY_AFTER failed attempts in a row, until one succeeds. */
  healthy: boolean;
  /** When the current run of failed attempts began (ISO); null while the last attempt succeeded. */
  failingSince: string | null;
  /** Failed attempts in a row. */
  failedAttempts: number;
  /** The last attempt's error while failing (secret-free); null once one succeeds. */
  lastError: string | null;
  /** Messages not delivered yet, the one being sent included. */
  pending: number;
  /** Messages given up because the queue was full. */
  dropped: number;
  lastSentAt: string | null;
}

export interface NotifierOptions {
  channels: readonly NotifyChannel[];
  log: Logger;
  /** The first retry delay; it doubles after each failed attempt, up to MAX_RETRY_MS. */
  retryMs: number;
  /** Called when a channel becomes unhealthy and when it works again. */
  onChannelChange?: (state: ChannelState) => void;
}

export interface Notifier {
  /** Queues `n` for every channel; returns at once. */
  notify(n: Notification): void;
  states(): ChannelState[];
  /** Resolves once every queue is empty, or after `timeoutMs`, whichever comes first. */
  flush(timeoutMs: number): Promise<void>;
  /** Ends the loops and their timers; what is still queued is not sent. */
  stop(): void;
}

/** Messages a channel keeps while it is down; beyond, the oldest are dropped. */
export const QUEUE_LIMIT = 50;
export const MAX_RETRY_MS = 5 * 60_000;
/** Failed attempts in a row after which a channel counts as unhealthy (one failure is often a blip). */
export const UNHEALTHY_AFTER = 3;

export function createNotifier(options: NotifierOptions): Notifier {
  const idleWaiters = new Set<() => void>();
  const lanes = options.channels.map((channel) => new ChannelLane(channel, options, () => idleChanged()));
  const allIdle = () => lanes.every((lane) => lane.idle);
  function idleChanged(): void {
    if (allIdle()) for (const resolve of [...idleWaiters]) resolve();
  }
  let stopped = false;
  for (const lane of lanes) lane.start();

  return {
    notify(n) {
      if (stopped) return;
      for (const lane of lanes) lane.add(n);
    },
    states: () => lanes.map((lane) => lane.state()),
    async flush(timeoutMs) {
      if (stopped || allIdle()) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          clearTimeout(timer);
          idleWaiters.delete(done);
          resolve();
        };
        const timer = setTimeout(done, timeoutMs);
        idleWaiters.add(done);
      });
    },
    stop() {
      stopped = true;
      for (const lane of lanes) lane.stop();
      for (const resolve of [...idleWaiters]) resolve();
    },
  };
}

/** One channel's queue and the loop that empties it. */
class ChannelLane {
  private readonly queue: Notification[] = [];
  private inFlight: Notification | null = null;
  private healthy = true;
  private failingSince: string | null = null;
  private failedAttempts = 0;
  private lastError: string | null = null;
  private dropped = 0;
  private lastSentAt: string | null = null;
  private stopped = false;
  /** Ends the loop's current wait: for work (set with `waitingForWork`) or for a retry. */
  private resume: (() => void) | null = null;
  private waitingForWork = false;
  private readonly log: Logger;

  constructor(
    private readonly channel: NotifyChannel,
    private readonly options: NotifierOptions,
    private readonly onIdle: () => void,
  ) {
    this.log = options.log.child({ channel: channel.name, target: channel.target });
  }

  start(): void {
    void this.run();
  }

  get idle(): boolean {
    return this.queue.length === 0 && this.inFlight === null;
  }

  add(n: Notification): void {
    if (this.stopped) return;
    this.queue.push(n);
    // The message being sent is never dropped: it may arrive yet.
    while (this.queue.length > 0 && this.queue.length + (this.inFlight ? 1 : 0) > QUEUE_LIMIT) {
      const oldest = this.queue.shift()!;
      this.dropped += 1;
      this.log.warn(
        { event: oldest.event, dropped: this.dropped },
        `notification channel ${this.describe()} is behind by more than ${QUEUE_LIMIT} messages: dropped the oldest (${oldest.event} of ${oldest.time})`,
      );
    }
    if (this.waitingForWork) this.resume?.();
  }

  state(): ChannelState {
    return {
      name: this.channel.name,
      target: this.channel.target,
      healthy: this.healthy,
      failingSince: this.failingSince,
      failedAttempts: this.failedAttempts,
      lastError: this.lastError,
      pending: this.queue.length + (this.inFlight ? 1 : 0),
      dropped: this.dropped,
      lastSentAt: this.lastSentAt,
    };
  }

  stop(): void {
    this.stopped = true;
    this.resume?.();
    this.channel.close?.();
  }

  private async run(): Promise<void> {
    while (!this.stopped) {
      const next = this.queue.shift();
      if (next === undefined) {
        this.onIdle();
        await this.pause(null);
        continue;
      }
      this.inFlight = next;
      let error: unknown = null;
      try {
        await this.channel.send(next);
      } catch (err) {
        error = err;
      }
      this.inFlight = null;
      if (this.stopped) return;
      if (error === null) {
        this.delivered();
        continue;
      }
      // Back at the front: messages go out in order, the oldest first.
      this.queue.unshift(next);
      this.failed(error);
      await this.pause(Math.min(this.options.retryMs * 2 ** (this.failedAttempts - 1), MAX_RETRY_MS));
    }
  }

  private delivered(): void {
    const wasUnhealthy = !this.healthy;
    const failures = this.failedAttempts;
    const since = this.failingSince;
    this.healthy = true;
    this.failedAttempts = 0;
    this.failingSince = null;
    this.lastError = null;
    this.lastSentAt = new Date().toISOString();
    this.log.debug('notification sent');
    if (wasUnhealthy) {
      this.log.info(
        { failedAttempts: failures, failingSince: since },
        `notification channel ${this.describe()} works again, after ${failures} failed attempts since ${since}`,
      );
      this.changed();
    }
  }

  private failed(err: unknown): void {
    const error = (err as Error)?.message ?? String(err);
    this.failedAttempts += 1;
    this.failingSince ??= new Date().toISOString();
    this.lastError = error;
    this.log.debug({ attempt: this.failedAttempts, error }, 'notification not sent; retrying');
    if (this.healthy && this.failedAttempts >= UNHEALTHY_AFTER) {
      this.healthy = false;
      this.log.warn(
        { failedAttempts: this.failedAttempts, failingSince: this.failingSince, error },
        `notification channel ${this.describe()} is failing: ${error}; retrying with backoff until it works (check the channel's settings and whether it can be reached from here)`,
      );
      this.changed();
    }
  }

  private changed(): void {
    try {
      this.options.onChannelChange?.(this.state());
    } catch (err) {
      this.log.warn({ error: (err as Error)?.message }, 'handling a notification channel change failed');
    }
  }

  private describe(): string {
    return `${this.channel.name} (${this.channel.target})`;
  }

  /** Waits for `ms`, or for work when null; stop() ends either at once. */
  private pause(ms: number | null): Promise<void> {
    if (this.stopped) return Promise.resolve();
    return new Promise((resolve) => {
      let timer: NodeJS.Timeout | undefined;
      this.resume = () => {
        clearTimeout(timer);
        this.resume = null;
        this.waitingForWork = false;
        resolve();
      };
      if (ms === null) this.waitingForWork = true;
      // A notifier alone does not keep the process alive: its owner flushes or stops it.
      else timer = setTimeout(this.resume, ms).unref();
    });
  }
}
