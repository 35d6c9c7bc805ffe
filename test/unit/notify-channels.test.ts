// Each notification channel against a real receiver on 127.0.0.1: what it sends, what it shows
// as its target, and errors that name no secret.
import { afterEach, describe, expect, it } from 'vitest';
import { configuredChannels, type NotifyChannel } from '../../src/notify/channels.js';
import { emailSubject } from '../../src/notify/email.js';
import type { Notification } from '../../src/notify/notification.js';
import { scrub, secretsOf } from '../../src/notify/scrub.js';
import { freePort } from '../../tools/harness/env.js';
import { startSmtpReceiver, startWebhookReceiver } from '../support/receivers.js';

const failing: Notification = {
  event: 'archiving-failing',
  status: 'failing',
  job: 'archiving',
  host: 'db1',
  repo: 's3://bucket/x/',
  message: 'archive_command failed 12 times since 10:02; the oldest .ready file is 20 minutes old',
  since: '2026-01-02T10:02:00.000Z',
  fix: 'check the store and run pitr check',
  time: '2026-01-02T10:22:00.000Z',
};

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function only(channels: NotifyChannel[]): NotifyChannel {
  expect(channels).toHaveLength(1);
  cleanups.push(() => channels[0]!.close?.());
  return channels[0]!;
}

describe('webhook channel', () => {
  it('POSTs the notification itself as JSON, and shows only its origin', async () => {
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    const channel = only(configuredChannels({ webhookUrl: `${receiver.url}?token=abcdefgh12`, retryMs: 5000 }));
    expect(channel.name).toBe('webhook');
    expect(channel.target).toBe(`http://127.0.0.1:${receiver.port}`);
    await channel.send(failing);
    const request = await receiver.next();
    expect(request.method).toBe('POST');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.body).toEqual(failing);
  });

  it('counts any answer but 2xx as a failure, with the status code, and names no part of the URL', async () => {
    const receiver = await startWebhookReceiver({ status: 302 });
    cleanups.push(() => receiver.close());
    const channel = only(configuredChannels({ webhookUrl: receiver.url, retryMs: 5000 }));
    const path = new URL(receiver.url).pathname;
    await expect(channel.send(failing)).rejects.toThrow(/answered HTTP 302 \(a redirect/);
    receiver.setStatus(503);
    const error = await channel.send(failing).catch((err: Error) => err);
    expect(String(error)).toContain('answered HTTP 503: receiver answers 503');
    expect(String(error)).not.toContain(path);
  });

  it('sends user:password of the URL as Basic authorization', async () => {
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    const url = receiver.url.replace('http://', 'http://hook:p%40ss@');
    const channel = only(configuredChannels({ webhookUrl: url, retryMs: 5000 }));
    expect(channel.target).toBe(`http://127.0.0.1:${receiver.port}`);
    await channel.send(failing);
    expect((await receiver.next()).headers.authorization).toBe(`Basic ${Buffer.from('hook:p@ss').toString('base64')}`);
  });

  it('says why it could not connect, and gives up after its timeout', async () => {
    const port = await freePort();
    const refused = only(configuredChannels({ webhookUrl: `http://127.0.0.1:${port}/T/secret-token-1234567890`, retryMs: 5000 }));
    const error = await refused.send(failing).catch((err: Error) => err);
    expect(String(error)).toMatch(/connect ECONNREFUSED 127\.0\.0\.1:\d+/);
    expect(String(error)).not.toContain('secret-token');

    // A server that accepts the connection and never answers.
    const { createServer } = await import('node:net');
    const sockets = new Set<import('node:net').Socket>();
    const silent = createServer((socket) => sockets.add(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => (sockets.forEach((s) => s.destroy()), silent.close(resolve))));
    const { port: silentPort } = silent.address() as import('node:net').AddressInfo;
    const [hanging] = configuredChannels({ webhookUrl: `http://127.0.0.1:${silentPort}/x`, retryMs: 5000 }, { timeoutMs: 300 });
    await expect(hanging!.send(failing)).rejects.toThrow('no answer within 0.3 s');
  });
});

describe('slack channel', () => {
  it('POSTs {text} with what failed, where, since when and what to do; shows only the host', async () => {
    const receiver = await startWebhookReceiver();
    cleanups.push(() => receiver.close());
    const channel = only(configuredChannels({ slackWebhook: receiver.url, retryMs: 5000 }));
    expect(channel).toMatchObject({ name: 'slack', target: `127.0.0.1:${receiver.port}` });
    await channel.send(failing);
    const { body } = await receiver.next();
    expect(Object.keys(body as object)).toEqual(['text']);
    const text = (body as { text: string }).text;
    for (const part of [
      'FAILING: archiving on db1 (s3://bucket/x/)',
      failing.message,
      `Since: ${failing.since}`,
      `What to do: ${failing.fix}`,
    ])
      expect(text).toContain(part);
    await channel.send({ ...failing, status: 'recovered', since: undefined, fix: undefined, message: 'archiving works again' });
    const recovered = ((await receiver.next()).body as { text: string }).text;
    expect(recovered).toContain('RECOVERED: archiving on db1');
    expect(recovered).not.toContain('Since:');
  });
});

describe('e-mail channel', () => {
  it('sends a plain-text mail with a subject that says it all and every field in the body', async () => {
    const smtp = await startSmtpReceiver();
    cleanups.push(() => smtp.close());
    const channel = only(
      configuredChannels({
        email: { to: ['ops@example.com', 'dba@example.com'], from: 'pitr@db1.example.com', smtpUrl: smtp.url },
        retryMs: 5000,
      }),
    );
    expect(channel.target).toBe(`to ops@example.com, dba@example.com via 127.0.0.1:${smtp.port}`);
    await channel.send(failing);
    await channel.send({ ...failing, status: 'recovered' });
    const [mail, second] = await smtp.waitFor(2);
    expect(mail).toMatchObject({ from: 'pitr@db1.example.com', to: ['ops@example.com', 'dba@example.com'] });
    expect(mail!.subject).toBe('[pitr] FAILING: archiving on db1 (s3://bucket/x/)');
    expect(emailSubject(failing)).toBe(mail!.subject);
    for (const [key, value] of Object.entries(failing)) expect(mail!.text, key).toContain(value);
    expect(second!.subject).toBe('[pitr] RECOVERED: archiving on db1 (s3://bucket/x/)');
  });

  it('logs in with user:password of PITR_SMTP_URL, and a refusal names neither', async () => {
    const smtp = await startSmtpReceiver({ user: 'mailer', pass: 's3cr3t-pa55' });
    cleanups.push(() => smtp.close());
    const email = { to: ['ops@example.com'], from: 'pitr@db1.example.com' };
    const channel = only(configuredChannels({ email: { ...email, smtpUrl: smtp.url }, retryMs: 5000 }));
    expect(channel.target).not.toContain('s3cr3t');
    await channel.send(failing);
    expect((await smtp.waitFor(1))[0]!.user).toBe('mailer');

    const wrong = only(configuredChannels({ email: { ...email, smtpUrl: smtp.url.replace('s3cr3t-pa55', 'wr0ng-pa55') }, retryMs: 5000 }));
    const error = await wrong.send(failing).catch((err: Error) => err);
    expect(error).toBeInstanceOf(Error);
    expect(String(error)).not.toContain('wr0ng-pa55');
  });
});

describe('scrub', () => {
  it('removes the URL, its path and query, its password as written and decoded', () => {
    const url = 'https://user:p%40ss-word@hooks.example.com/services/T0ABC/B0DEF/xoxb1234567890abcdef?token=qwertyuiop';
    const secrets = secretsOf(url);
    const text = [
      `Failed to parse URL from ${url}`,
      'POST /services/T0ABC/B0DEF/xoxb1234567890abcdef?token=qwertyuiop',
      'got xoxb1234567890abcdef and qwertyuiop',
      'auth p@ss-word p%40ss-word',
      'connect ECONNREFUSED 10.0.0.1:443',
    ].join('\n');
    const out = scrub(text, secrets);
    for (const secret of ['p@ss-word', 'p%40ss-word', '/services/', 'xoxb1234567890abcdef', 'qwertyuiop', 'T0ABC'])
      expect(out).not.toContain(secret);
    expect(out).toContain('connect ECONNREFUSED 10.0.0.1:443');
  });

  it('hides the user:password of any URL in the text, and leaves short path words alone', () => {
    expect(scrub('see smtp://someone:other@mail:25 now', [])).toBe('see smtp://***@mail:25 now');
    expect(scrub('the services are down', secretsOf('https://h.example/services/x'))).toBe('the services are down');
  });
});
