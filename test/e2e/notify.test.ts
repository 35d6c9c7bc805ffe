// pitr notify --test through bin/pitr against real receivers on 127.0.0.1: a webhook, a Slack
// stand-in (the same HTTP receiver) and an SMTP server. Exit 0 only when every channel took the
// message, 16 naming each one that did not; no secret of a channel URL in any output.
import { afterEach, describe, expect, it } from 'vitest';
import { freePort, pitr } from '../../tools/harness/env.js';
import { startSmtpReceiver, startWebhookReceiver } from '../support/receivers.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function receivers(options: { slackStatus?: number; smtpUser?: { user: string; pass: string } } = {}) {
  const webhook = await startWebhookReceiver();
  const slack = await startWebhookReceiver({ status: options.slackStatus ?? 200 });
  const smtp = await startSmtpReceiver(options.smtpUser);
  cleanups.push(
    () => webhook.close(),
    () => slack.close(),
    () => smtp.close(),
  );
  const env = {
    PITR_REPO: 'file:///srv/pitr/main',
    PITR_NOTIFY_WEBHOOK_URL: webhook.url,
    PITR_NOTIFY_SLACK_WEBHOOK: slack.url,
    PITR_NOTIFY_EMAIL_TO: 'ops@example.com,dba@example.com',
    PITR_NOTIFY_EMAIL_FROM: 'pitr@db1.example.com',
    PITR_SMTP_URL: smtp.url,
  };
  return { webhook, slack, smtp, env };
}

describe('pitr notify --test', () => {
  it('reaches every configured channel: webhook JSON, Slack text, e-mail (exit 0)', async () => {
    const { webhook, slack, smtp, env } = await receivers();
    const res = await pitr(['notify', '--test'], { env });
    expect(res.exitCode, res.stderr).toBe(0);

    const hook = (await webhook.next()).body as Record<string, unknown>;
    for (const field of ['event', 'status', 'job', 'host', 'repo', 'message', 'time'])
      expect(hook[field], field).toEqual(expect.any(String));
    expect(hook).toMatchObject({ event: 'test', status: 'recovered', job: 'test', repo: 'file:///srv/pitr/main/' });
    expect(hook.message).toBe('pitr test notification: this channel works');

    const text = ((await slack.next()).body as { text: string }).text;
    expect(text).toContain('pitr test notification: this channel works');
    expect(text).toContain(`test on ${hook.host as string}`);

    const [mail] = await smtp.waitFor(1);
    expect(mail).toMatchObject({ from: 'pitr@db1.example.com', to: ['ops@example.com', 'dba@example.com'] });
    expect(mail!.subject).toBe(`[pitr] TEST: test on ${hook.host as string} (file:///srv/pitr/main/)`);
    expect(mail!.text).toContain('pitr test notification: this channel works');

    const lines = res.stdout.trim().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(new RegExp(`^slack \\(127\\.0\\.0\\.1:${slack.port}\\): sent in \\d+ ms$`));
    expect(lines[1]).toMatch(new RegExp(`^webhook \\(http://127\\.0\\.0\\.1:${webhook.port}\\): sent in \\d+ ms$`));
    expect(lines[2]).toMatch(
      new RegExp(`^email \\(to ops@example\\.com, dba@example\\.com via 127\\.0\\.0\\.1:${smtp.port}\\): sent in \\d+ ms$`),
    );
  });

  it('still sends the e-mail when the webhook is not listening and Slack answers 500; exit 16 naming both', async () => {
    const { webhook, slack, smtp, env } = await receivers({ slackStatus: 500 });
    await webhook.close();
    const res = await pitr(['notify', '--test'], { env });
    expect(res.exitCode, res.stderr).toBe(16);

    expect((await smtp.waitFor(1))[0]!.subject).toContain('[pitr] TEST');
    // Three attempts each.
    expect((await slack.waitFor(3)).map((r) => r.status)).toEqual([500, 500, 500]);
    expect(res.stdout).toContain(`slack (127.0.0.1:${slack.port}): FAILED after 3 attempts: answered HTTP 500`);
    expect(res.stdout).toMatch(
      new RegExp(
        `webhook \\(http://127\\.0\\.0\\.1:${webhook.port}\\): FAILED after 3 attempts: connect ECONNREFUSED 127\\.0\\.0\\.1:${webhook.port}`,
      ),
    );
    expect(res.stdout).toMatch(/email \(to .*\): sent in \d+ ms/);
    const error = JSON.parse(res.stderr.trim().split('\n').at(-1)!) as { msg: string; exitCode: number };
    expect(error.exitCode).toBe(16);
    expect(error.msg).toContain(`slack (127.0.0.1:${slack.port})`);
    expect(error.msg).toContain(`webhook (http://127.0.0.1:${webhook.port})`);
    expect(error.msg).not.toContain('email (');
    for (const url of [webhook.url, slack.url]) expect(res.stdout + res.stderr).not.toContain(new URL(url).pathname);
  });

  it('logs in to SMTP with user:password; --json reports each channel; no password or webhook path in any output', async () => {
    const pass = 'pa55-w0rd-s3cret';
    const { webhook, smtp, env } = await receivers({ smtpUser: { user: 'mailer', pass } });
    expect(env.PITR_SMTP_URL).toContain(pass);
    const res = await pitr(['notify', '--test', '--json', '--log-level', 'debug'], { env });
    expect(res.exitCode, res.stderr).toBe(0);
    expect((await smtp.waitFor(1))[0]!.user).toBe('mailer');
    const report = JSON.parse(res.stdout) as {
      channels: { name: string; target: string; ok: boolean; ms: number; attempts: number; error: null }[];
    };
    expect(report.channels.map((c) => [c.name, c.ok, c.attempts, c.error])).toEqual([
      ['slack', true, 1, null],
      ['webhook', true, 1, null],
      ['email', true, 1, null],
    ]);
    expect(report.channels[2]!.target).toBe(`to ops@example.com, dba@example.com via 127.0.0.1:${smtp.port}`);
    const output = res.stdout + res.stderr;
    for (const secret of [pass, new URL(webhook.url).pathname, new URL(env.PITR_NOTIFY_SLACK_WEBHOOK).pathname])
      expect(output).not.toContain(secret);
  });

  it('a wrong SMTP password fails the e-mail channel without showing it (exit 16)', async () => {
    const { env } = await receivers({ smtpUser: { user: 'mailer', pass: 'right-pa55' } });
    const res = await pitr(['notify', '--test'], { env: { ...env, PITR_SMTP_URL: env.PITR_SMTP_URL.replace('right-pa55', 'wr0ng-pa55') } });
    expect(res.exitCode).toBe(16);
    expect(res.stdout).toMatch(/email \(.*\): FAILED after 3 attempts: Invalid login/);
    expect(res.stdout + res.stderr).not.toContain('wr0ng-pa55');
  });

  it('with no channel configured is a configuration error naming the keys (exit 2)', async () => {
    const res = await pitr(['notify', '--test'], { env: { PITR_REPO: 'file:///srv/pitr/main' } });
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain('no notification channel is configured');
    for (const key of ['PITR_NOTIFY_SLACK_WEBHOOK', 'PITR_NOTIFY_WEBHOOK_URL', 'PITR_NOTIFY_EMAIL_TO', 'PITR_SMTP_URL'])
      expect(res.stderr).toContain(key);
  });

  it('without --test says that --test is the only mode (exit 2)', async () => {
    const port = await freePort();
    const res = await pitr(['notify'], { env: { PITR_NOTIFY_WEBHOOK_URL: `http://127.0.0.1:${port}/x` } });
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain('pitr notify --test');
  });
});
