import { readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { checkedTimeZone } from '../../src/config/time-zone.js';
import { ConfigError } from '../../src/errors.js';
import { parseRepoUrl } from '../../src/storage/open.js';
import { VERSION } from '../../src/version.js';

function configFile(text: string, mode = 0o600): string {
  const path = join(mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-unit-')), 'pitr.env');
  writeFileSync(path, text, { mode });
  return path;
}

describe('configuration precedence: flag > environment > file > default', () => {
  const file = configFile('# comment\nPITR_REPO="file:///from/file"\nPITR_COMPRESS=none\nPITR_LOG_LEVEL=warn\n');

  it('uses each layer in order', () => {
    expect(loadConfig({ config: file }, {}).repo).toBe('file:///from/file');
    expect(loadConfig({ config: file }, { PITR_REPO: 'file:///from/env' }).repo).toBe('file:///from/env');
    expect(loadConfig({ config: file, repo: 'file:///from/flag' }, { PITR_REPO: 'file:///from/env' }).repo).toBe('file:///from/flag');
    expect(loadConfig({ config: file }, {}).compress).toBe('none');
    expect(loadConfig({}, {}).compress).toBe('lz4');
    expect(loadConfig({}, {}).logLevel).toBe('info');
  });

  it('finds the file through PITR_CONFIG', () => {
    expect(loadConfig({}, { PITR_CONFIG: file }).logLevel).toBe('warn');
  });

  it('falls back from PITR_S3_REGION to AWS_REGION to us-east-1', () => {
    expect(loadConfig({}, {}).s3.region).toBe('us-east-1');
    expect(loadConfig({}, { AWS_REGION: 'eu-west-1' }).s3.region).toBe('eu-west-1');
    expect(loadConfig({}, { AWS_REGION: 'eu-west-1', PITR_S3_REGION: 'eu-central-1' }).s3.region).toBe('eu-central-1');
  });

  it('exports libpq and AWS keys of the file to the environment without overriding it', () => {
    const f = configFile('PGHOST=db.internal\nAWS_ACCESS_KEY_ID=fromfile\n');
    const env: NodeJS.ProcessEnv = { AWS_ACCESS_KEY_ID: 'fromenv' };
    loadConfig({ config: f }, env);
    expect(env.PGHOST).toBe('db.internal');
    expect(env.AWS_ACCESS_KEY_ID).toBe('fromenv');
  });

  it('warns about a world-readable file holding a secret, without echoing it', () => {
    const f = configFile('AWS_SECRET_ACCESS_KEY=sekrit\n', 0o644);
    const { warnings } = loadConfig({ config: f }, {});
    expect(warnings.join()).toContain('world-readable');
    expect(warnings.join()).not.toContain('sekrit');
  });

  it('rejects bad values naming the key', () => {
    expect(() => loadConfig({}, { PITR_S3_MAX_ATTEMPTS: '0' })).toThrow(/PITR_S3_MAX_ATTEMPTS/);
    expect(() => loadConfig({ compress: 'zip' }, {})).toThrow(/PITR_COMPRESS \(--compress\)/);
    expect(() => loadConfig({ config: configFile('BOGUS=1\n') }, {})).toThrow(ConfigError);
  });
});

describe('repository URLs', () => {
  it('parses file and s3 URLs', () => {
    expect(parseRepoUrl('file:///srv/pitr/')).toEqual({ kind: 'file', path: '/srv/pitr' });
    expect(parseRepoUrl('s3://my-bucket')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: '' });
    expect(parseRepoUrl('s3://my-bucket/a/b/')).toEqual({ kind: 's3', bucket: 'my-bucket', prefix: 'a/b' });
  });
  it('rejects what it cannot use', () => {
    for (const bad of [undefined, '', 'file://rel', 'http://x', 's3://UPPER/x', '/srv/pitr'])
      expect(() => parseRepoUrl(bad)).toThrow(ConfigError);
  });
});

it('VERSION matches package.json', () => {
  expect(VERSION).toBe(JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version);
});

describe('retention and alert settings', () => {
  it('reads counts, durations and the time zone, with the contract defaults for alerts', () => {
    const c = loadConfig(
      {},
      {
        PITR_RETENTION_FULL: '3',
        PITR_RETENTION_WINDOW: '30d',
        PITR_RETENTION_WEEKLY: '4',
        PITR_TIMEZONE: 'Europe/Berlin',
        PITR_ALERT_ARCHIVE_AGE: '90s',
      },
    );
    expect(c.retention).toEqual({
      full: 3,
      windowMs: 30 * 86_400_000,
      daily: undefined,
      weekly: 4,
      monthly: undefined,
      timeZone: 'Europe/Berlin',
    });
    expect(c.alerts).toEqual({ backupAgeMs: 25 * 3_600_000, archiveAgeMs: 90_000, restoreTestAgeMs: 35 * 86_400_000 });
  });

  it('leaves job settings unread for the WAL commands: a typo in one never stops archiving, and every other command names it', () => {
    const env = {
      PITR_RETENTION_FULL: 'three',
      PITR_ALERT_BACKUP_AGE: 'a day',
      PITR_NOTIFY_WEBHOOK_URL: 'not a url',
      PITR_WATCH_INTERVAL: 'often',
      PITR_REPO: 'file:///srv/pitr',
    };
    const wal = loadConfig({}, env, 'info', { walOnly: true });
    expect(wal.repo).toBe('file:///srv/pitr');
    expect(wal.retention.full).toBeUndefined();
    expect(wal.agent.watchIntervalMs).toBe(60_000);
    expect(() => loadConfig({}, env)).toThrow(ConfigError);
  });

  it("reads the agent's HTTP address and token, refusing a short token without echoing it", () => {
    expect(loadConfig({}, {}).agent.httpListen).toEqual({ host: '127.0.0.1', port: 9733 });
    expect(loadConfig({}, { PITR_HTTP_LISTEN: '[::1]:8080' }).agent.httpListen).toEqual({ host: '::1', port: 8080 });
    expect(loadConfig({}, { PITR_HTTP_LISTEN: 'off' }).agent.httpListen).toBeNull();
    expect(() => loadConfig({}, { PITR_HTTP_LISTEN: 'localhost' })).toThrow(
      /PITR_HTTP_LISTEN \(--http-listen\) "localhost" is not HOST:PORT/,
    );
    const short = (() => {
      try {
        loadConfig({}, { PITR_HTTP_TOKEN: 'hunter2' });
      } catch (err) {
        return (err as Error).message;
      }
    })();
    expect(short).toMatch(/^PITR_HTTP_TOKEN is shorter than 16 characters/);
    expect(short).not.toContain('hunter2');
  });

  it("keeps the agent's watch interval between a second and a day", () => {
    expect(loadConfig({}, { PITR_WATCH_INTERVAL: '5m' }).agent.watchIntervalMs).toBe(300_000);
    expect(() => loadConfig({}, { PITR_WATCH_INTERVAL: '30d' })).toThrow(
      /PITR_WATCH_INTERVAL \(--watch-interval\) "30d" is out of range: give 1s to 1d/,
    );
  });

  it('refuses a count or a duration it cannot read, naming the key and the form', () => {
    expect(() => loadConfig({}, { PITR_RETENTION_DAILY: 'seven' })).toThrow(/PITR_RETENTION_DAILY .*"seven" is not a count/);
    expect(() => loadConfig({}, { PITR_ALERT_BACKUP_AGE: '25 hours' })).toThrow(/PITR_ALERT_BACKUP_AGE .*write it as 30s, 15m, 25h or 7d/);
    expect(() => checkedTimeZone('Mars/Olympus')).toThrow(/PITR_TIMEZONE "Mars\/Olympus" is not a time zone/);
  });

  it('never passes retention or alert settings on to the WAL commands', () => {
    const c = loadConfig({ 'retention-full': '3' }, { PITR_REPO: 'file:///srv/r', PITR_ALERT_BACKUP_AGE: '2h' });
    expect(c.givenOutsideFile).toEqual([['repo', 'file:///srv/r']]);
  });
});
