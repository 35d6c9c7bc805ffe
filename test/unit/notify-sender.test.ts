// The agent's sender against real receivers on 127.0.0.1: a channel that is down neither delays
// the others nor loses its messages (retried with backoff until it delivers), its health changes
// are reported once each way, and its queue is bounded. Waits are on events, never on sleeps.
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import type { Logger } from '../../src/log.js';
import { configuredChannels, type NotifyChannel } from '../../src/notify/channels.js';
import type { Notification } from '../../src/notify/notification.js';
import { createNotifier, QUEUE_LIMIT, UNHEALTHY_AFTER, type ChannelState, type Notifier } from '../../src/notify/sender.js';
import { startWebhookReceiver, type ReceivedRequest } from '../support/receivers.js';

function notification(message: string): Notification {
  return {
    event: 'backup-failed',
    status: 'failing',
    job: 'backup',
    host: 'db1',
    repo: 'file:///srv/pitr/',
    message,
    time: new Date().toISOString(),
  };
}

/** A pino logger whose lines the test reads. */
function capturedLog(): { log: Logger; lines: { level: number; msg: string; [key: string]: unknown }[] } {
  const lines: { level: number; msg: string }[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line) lines.push(JSON.parse(line));
      done();
    },
  });
  return { log: pino({ level: 'debug' }, sink), lines };
}

/** The states onChannelChange reported, and a wait for the nth. */
function changeRecorder() {
  const changes: ChannelState[] = [];
  const waiters: { n: number; resolve: () => void }[] = [];
  return {
    changes,
    onChannelChange(state: ChannelState) {
      changes.push(state);
      for (const w of waiters) if (changes.length >= w.n) w.resolve();
    },
    nth(n: number): Promise<ChannelState> {
      if (changes.length >= n) return Promise.resolve(changes[n - 1]!);
      return new Promise((resolve) => waiters.push({ n, resolve: () => resolve(changes[n - 1]!) }));
    },
  };
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function webhook(options: { status?: number } = {}) {
  const receiver = await startWebhookReceiver(options);
  cleanups.push(() => receiver.close());
  return receiver;
}

function notifier(options: Parameters<typeof createNotifier>[0]): Notifier {
  const n = createNotifier(options);
  cleanups.push(() => n.stop());
  return n;
}

function channel(settings: { webhookUrl?: string; slackWebhook?: string }, timeoutMs = 10_000): NotifyChannel {
  const [c] = configuredChannels({ ...settings, retryMs: 0 }, { timeoutMs });
  return c!;
}

/** A server that accepts connections and never answers: a send to it hangs until its timeout. */
async function silentServer(): Promise<{ url: string; connected: Promise<void> }> {
  const sockets = new Set<Socket>();
  let connected!: () => void;
  const connection = new Promise<void>((resolve) => (connected = resolve));
  const server = createServer((socket) => {
    sockets.add(socket);
    connected();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  cleanups.push(() => new Promise((resolve) => (sockets.forEach((s) => s.destroy()), server.close(resolve))));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`, connected: connection };
}

describe('notification sender', () => {
  it('delivers to a healthy channel while another one hangs', async () => {
    const healthy = await webhook();
    const hanging = await silentServer();
    const { log } = capturedLog();
    const sender = notifier({
      channels: [channel({ slackWebhook: hanging.url }, 60_000), channel({ webhookUrl: healthy.url })],
      log,
      retryMs: 1000,
    });
    sender.notify(notification('backup failed: disk full'));
    await hanging.connected;
    const request = await healthy.next();
    expect((request.body as Notification).message).toBe('backup failed: disk full');
    // Meanwhile the Slack message is still on its way: its send hangs.
    expect(sender.states()[0]).toMatchObject({ name: 'slack', pending: 1, lastSentAt: null, healthy: true });

    // flush gives up after its timeout while a channel still has the message.
    const started = performance.now();
    await sender.flush(200);
    expect(performance.now() - started).toBeGreaterThanOrEqual(190);
    expect(sender.states()[0]!.pending).toBe(1);
  });

  it('retries a channel that is down with backoff, reports it failing once and working again once, and delivers', async () => {
    const receiver = await webhook({ status: 500 });
    const other = await webhook();
    const { log, lines } = capturedLog();
    const recorder = changeRecorder();
    const retryMs = 40;
    const sender = notifier({
      channels: [channel({ webhookUrl: receiver.url }), channel({ slackWebhook: other.url })],
      log,
      retryMs,
      onChannelChange: recorder.onChannelChange,
    });
    sender.notify(notification('first'));
    sender.notify(notification('second'));

    const failing = await recorder.nth(1);
    expect(failing).toMatchObject({ name: 'webhook', healthy: false, failedAttempts: UNHEALTHY_AFTER, pending: 2 });
    expect(failing.lastError).toContain('answered HTTP 500');
    expect(failing.failingSince).not.toBeNull();
    // The other channel delivered both meanwhile.
    expect((await other.waitFor(2)).map((r) => (r.body as { text: string }).text.includes('first'))).toEqual([true, false]);

    // Two more failed attempts, to see the delays double.
    await receiver.waitFor(UNHEALTHY_AFTER + 2);
    expect(sender.states()[0]).toMatchObject({ healthy: false, failingSince: failing.failingSince });
    receiver.setStatus(200);
    await sender.flush(30_000);

    const recovered = await recorder.nth(2);
    expect(recovered).toMatchObject({ name: 'webhook', healthy: true, failedAttempts: 0, failingSince: null, lastError: null });
    expect(recorder.changes.map((s) => s.healthy)).toEqual([false, true]);
    expect(sender.states()[0]).toMatchObject({ healthy: true, pending: 0, dropped: 0 });

    // Every attempt carried the oldest message first; both arrived, in order.
    const requests = receiver.received;
    const accepted = requests.filter((r) => r.status === 200).map((r) => (r.body as Notification).message);
    expect(accepted).toEqual(['first', 'second']);
    expect(requests.filter((r) => r.status === 500).every((r) => (r.body as Notification).message === 'first')).toBe(true);
    // Waits of retryMs, 2 retryMs, 4 retryMs ... between the attempts (timers never fire early).
    const gaps = arrivalGaps(requests.filter((r) => r.status === 500));
    gaps.forEach((gap, i) => expect(gap, `wait after attempt ${i + 1}`).toBeGreaterThanOrEqual(retryMs * 2 ** i - 5));

    // Logged once each way (warn, info), with the channel and its target; each attempt only at debug.
    const warnings = lines.filter((l) => l.level === 40);
    const infos = lines.filter((l) => l.level === 30);
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ channel: 'webhook', target: `http://127.0.0.1:${receiver.port}` });
    expect(warnings[0]!.msg).toContain('is failing: answered HTTP 500');
    expect(infos).toHaveLength(1);
    expect(infos[0]!.msg).toContain('works again');
    expect(lines.filter((l) => l.level === 20 && l.msg.includes('not sent')).length).toBeGreaterThanOrEqual(UNHEALTHY_AFTER + 2);
    expect(JSON.stringify(lines)).not.toContain(new URL(receiver.url).pathname);
  });

  it('keeps at most QUEUE_LIMIT messages per channel, dropping the oldest', async () => {
    const receiver = await webhook();
    const { log } = capturedLog();
    const sender = notifier({ channels: [channel({ webhookUrl: receiver.url })], log, retryMs: 1000 });
    // All queued before the loop takes the first.
    for (let i = 0; i < QUEUE_LIMIT + 5; i++) sender.notify(notification(`#${i}`));
    expect(sender.states()[0]).toMatchObject({ pending: QUEUE_LIMIT, dropped: 5 });
    await sender.flush(30_000);
    const delivered = receiver.received.map((r) => (r.body as Notification).message);
    expect(delivered).toEqual(Array.from({ length: QUEUE_LIMIT }, (_, i) => `#${i + 5}`));
    expect(sender.states()[0]).toMatchObject({ pending: 0, dropped: 5 });
  });

  it('stop ends the loops: nothing more is sent, and flush returns at once', async () => {
    const receiver = await webhook({ status: 500 });
    const { log } = capturedLog();
    const sender = createNotifier({ channels: [channel({ webhookUrl: receiver.url })], log, retryMs: 60_000 });
    sender.notify(notification('never'));
    await receiver.next();
    sender.stop();
    sender.notify(notification('after stop'));
    await sender.flush(60_000);
    expect(receiver.received).toHaveLength(1);
  });
});

function arrivalGaps(requests: ReceivedRequest[]): number[] {
  return requests.slice(1).map((r, i) => r.at - requests[i]!.at);
}
