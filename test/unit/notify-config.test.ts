import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { FLAG_SETTINGS, SECRET_KEYS, SETTINGS } from '../../src/config/settings.js';
import { ConfigError } from '../../src/errors.js';

const email = {
  PITR_NOTIFY_EMAIL_TO: 'ops@example.com, dba@example.com',
  PITR_NOTIFY_EMAIL_FROM: 'pitr <pitr@db1.example.com>',
  PITR_SMTP_URL: 'smtp://mailer:hunter2@mail.example.com:587',
};

/** The ConfigError loadConfig throws for this environment. */
function refusal(env: NodeJS.ProcessEnv): string {
  try {
    loadConfig({}, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('loadConfig accepted it');
}

describe('notification settings', () => {
  it('are all unset by default, with a 5 s first retry', () => {
    expect(loadConfig({}, {}).notify).toEqual({ slackWebhook: undefined, webhookUrl: undefined, email: undefined, retryMs: 5000 });
  });

  it('reads every channel and the retry delay', () => {
    const notify = loadConfig(
      {},
      {
        ...email,
        PITR_NOTIFY_SLACK_WEBHOOK: 'https://hooks.slack.com/services/T0/B0/secret',
        PITR_NOTIFY_WEBHOOK_URL: 'http://127.0.0.1:9000/hook?token=abc',
        PITR_NOTIFY_RETRY: '30s',
      },
    ).notify;
    expect(notify).toEqual({
      slackWebhook: 'https://hooks.slack.com/services/T0/B0/secret',
      webhookUrl: 'http://127.0.0.1:9000/hook?token=abc',
      email: { to: ['ops@example.com', 'dba@example.com'], from: 'pitr <pitr@db1.example.com>', smtpUrl: email.PITR_SMTP_URL },
      retryMs: 30_000,
    });
  });

  it('takes the addresses and the retry from flags, but the secret URLs have none', () => {
    const c = loadConfig(
      { 'notify-email-to': 'a@x.org', 'notify-email-from': 'b@x.org', 'notify-retry': '1m' },
      { PITR_SMTP_URL: 'smtps://mail.x.org' },
    );
    expect(c.notify.email).toEqual({ to: ['a@x.org'], from: 'b@x.org', smtpUrl: 'smtps://mail.x.org' });
    expect(c.notify.retryMs).toBe(60_000);
    const flagless = SETTINGS.filter((s) => !FLAG_SETTINGS.some((f) => f.key === s.key)).map((s) => s.key);
    expect(flagless).toEqual(['PITR_NOTIFY_SLACK_WEBHOOK', 'PITR_NOTIFY_WEBHOOK_URL', 'PITR_SMTP_URL', 'PITR_HTTP_TOKEN']);
    for (const key of flagless) expect(SECRET_KEYS.has(key)).toBe(true);
  });

  it('refuses a URL of the wrong kind naming the key, never echoing the value', () => {
    const cases: [NodeJS.ProcessEnv, RegExp][] = [
      [{ PITR_NOTIFY_SLACK_WEBHOOK: 'hooks.slack.com/services/T0/B0/sekrit' }, /PITR_NOTIFY_SLACK_WEBHOOK is not a URL/],
      [{ PITR_NOTIFY_WEBHOOK_URL: 'ftp://user:sekrit@host/x' }, /PITR_NOTIFY_WEBHOOK_URL must be a http or https URL/],
      [{ ...email, PITR_SMTP_URL: 'https://mailer:sekrit@mail.example.com' }, /PITR_SMTP_URL must be a smtp or smtps URL/],
      [{ ...email, PITR_SMTP_URL: 'mailer:sekrit@mail' }, /PITR_SMTP_URL must be a smtp or smtps URL/],
    ];
    for (const [env, expected] of cases) {
      const message = refusal(env);
      expect(message).toMatch(expected);
      expect(message).not.toContain('sekrit');
      expect(message).not.toContain('mailer');
    }
  });

  it('wants all three e-mail keys or none, naming the missing ones', () => {
    const { PITR_SMTP_URL: _, ...noSmtp } = email;
    expect(refusal(noSmtp)).toMatch(/PITR_NOTIFY_EMAIL_TO and PITR_NOTIFY_EMAIL_FROM are set but PITR_SMTP_URL is not/);
    expect(refusal({ PITR_SMTP_URL: email.PITR_SMTP_URL })).toMatch(
      /PITR_SMTP_URL is set but PITR_NOTIFY_EMAIL_TO \(--notify-email-to\) and PITR_NOTIFY_EMAIL_FROM \(--notify-email-from\) are not/,
    );
    expect(refusal({ PITR_SMTP_URL: email.PITR_SMTP_URL })).not.toContain('hunter2');
    // A list of nothing but commas is no list.
    expect(refusal({ ...email, PITR_NOTIFY_EMAIL_TO: ' , ' })).toMatch(/PITR_NOTIFY_EMAIL_TO \(--notify-email-to\) is not/);
  });

  it('checks the shape of each address', () => {
    expect(refusal({ ...email, PITR_NOTIFY_EMAIL_TO: 'ops@example.com, nobody' })).toMatch(
      /PITR_NOTIFY_EMAIL_TO \(--notify-email-to\): "nobody" is not an e-mail address/,
    );
    expect(refusal({ ...email, PITR_NOTIFY_EMAIL_FROM: 'pitr at db1' })).toMatch(/PITR_NOTIFY_EMAIL_FROM .*"pitr at db1" is not/);
    expect(refusal({ ...email, PITR_NOTIFY_EMAIL_TO: 'a@b c@d' })).toMatch(/"a@b c@d" is not an e-mail address/);
  });

  it('refuses a retry that is not a duration', () => {
    expect(refusal({ PITR_NOTIFY_RETRY: '5' })).toMatch(/PITR_NOTIFY_RETRY \(--notify-retry\) "5" is not a duration/);
    expect(refusal({ PITR_NOTIFY_RETRY: '0s' })).toMatch(/is not a duration/);
  });

  it('warns about a world-readable config file holding a notification URL, and never passes the settings to WAL commands', () => {
    const path = join(mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-unit-')), 'pitr.env');
    writeFileSync(path, 'PITR_NOTIFY_WEBHOOK_URL=https://hooks.example.com/T/sekrit\n', { mode: 0o644 });
    const c = loadConfig({ config: path, 'notify-retry': '9s' }, { PITR_REPO: 'file:///srv/r', ...email });
    expect(c.warnings.join()).toContain('world-readable');
    expect(c.warnings.join()).not.toContain('sekrit');
    expect(c.givenOutsideFile).toEqual([['repo', 'file:///srv/r']]);
  });
});
