// One vocabulary for flags, environment and config file (docs/cli.md lists them).
// Both the yargs CLI and the lean wal-push/wal-fetch parser are built from this table, so a
// setting cannot exist in one and not the other.

/** The groups of shared flags in `--help`, in the order shown. */
export const HELP_GROUPS = {
  repository: 'Repository and S3 options:',
  database: 'Database options:',
  encryption: 'Encryption at rest:',
  tuning: 'Archiver tuning:',
  retention: 'Retention (expire, status):',
  alerts: 'Health thresholds (status):',
  jobs: 'Restore tests:',
  agent: 'Agent (pitr agent: schedules, health watch):',
  notify: 'Notifications (agent, notify):',
  general: 'Global options:',
} as const;
export type HelpGroup = keyof typeof HELP_GROUPS;

export interface SettingDef {
  /** Environment variable and config-file key. */
  readonly key: string;
  /** Long flag name without dashes; absent for settings that are never on a command line. */
  readonly flag?: string;
  readonly type: 'string' | 'boolean';
  /** Where `--help` lists the flag, after the command's own options. */
  readonly group: HelpGroup;
  readonly describe: string;
  /**
   * false: the setting only tunes how fast or how loud pitr works, never where or how objects
   * are stored or read, so it stays out of the invocation fingerprint (launcher/fingerprint.ts).
   * Every other setting is in it, new ones included.
   */
  readonly placement?: false;
}

export const SETTINGS = [
  {
    key: 'PITR_REPO',
    flag: 'repo',
    type: 'string',
    group: 'repository',
    describe: 'repository URL: file:///abs/path or s3://bucket/prefix',
  },
  {
    key: 'PITR_S3_ENDPOINT',
    flag: 's3-endpoint',
    type: 'string',
    group: 'repository',
    describe: 'S3 endpoint URL for S3-compatible stores',
  },
  {
    key: 'PITR_S3_REGION',
    flag: 's3-region',
    type: 'string',
    group: 'repository',
    describe: 'S3 region (default: AWS_REGION, else us-east-1)',
  },
  {
    key: 'PITR_S3_FORCE_PATH_STYLE',
    flag: 's3-force-path-style',
    type: 'boolean',
    group: 'repository',
    describe: 'path-style S3 addressing',
  },
  {
    key: 'PITR_S3_CHECKSUM',
    flag: 's3-checksum',
    type: 'string',
    group: 'repository',
    describe: 'SDK request checksums: when_required (default; works with most S3-compatible stores) or when_supported',
  },
  {
    key: 'PITR_S3_SSE',
    flag: 's3-sse',
    type: 'string',
    group: 'repository',
    describe: 'S3 server-side encryption of every upload: AES256 or aws:kms',
  },
  {
    key: 'PITR_S3_SSE_KMS_KEY_ID',
    flag: 's3-sse-kms-key-id',
    type: 'string',
    group: 'repository',
    describe: "the KMS key for PITR_S3_SSE=aws:kms (default: the account's aws/s3 key)",
  },
  {
    key: 'PITR_S3_STORAGE_CLASS',
    flag: 's3-storage-class',
    type: 'string',
    group: 'repository',
    describe: "S3 storage class of every upload, e.g. STANDARD_IA (default: the bucket's, STANDARD)",
  },
  {
    key: 'PITR_ENCRYPT_RECIPIENTS',
    flag: 'encrypt-recipients',
    type: 'string',
    group: 'encryption',
    describe: 'encrypt every object to these age public keys (age1…, comma-separated); the repository records them at init',
  },
  {
    key: 'PITR_ENCRYPT_IDENTITY_FILE',
    flag: 'encrypt-identity-file',
    type: 'string',
    group: 'encryption',
    describe: 'age identity file (age-keygen) to decrypt with: wal-fetch, restore; never needed where backups are only written',
  },
  {
    key: 'PITR_S3_ATOMIC_WRITES',
    flag: 's3-atomic-writes',
    type: 'string',
    group: 'repository',
    describe:
      'whether the store keeps only whole uploads (default true: AWS S3, MinIO, GCS); false for one that keeps part of an interrupted upload under its key (s3rver): list, status and expire then read every WAL header',
    placement: false,
  },
  {
    key: 'PITR_S3_MAX_ATTEMPTS',
    flag: 's3-max-attempts',
    type: 'string',
    group: 'repository',
    describe: 'attempts per S3 request (default 3)',
    placement: false,
  },
  {
    key: 'PITR_S3_CONNECT_TIMEOUT_MS',
    flag: 's3-connect-timeout-ms',
    type: 'string',
    group: 'repository',
    describe: 'S3 connect timeout (default 3000)',
    placement: false,
  },
  {
    key: 'PITR_S3_REQUEST_TIMEOUT_MS',
    flag: 's3-request-timeout-ms',
    type: 'string',
    group: 'repository',
    describe: 'S3 socket idle timeout (default 10000)',
    placement: false,
  },
  {
    key: 'PITR_BACKUP_WAL_TIMEOUT',
    flag: 'wal-timeout',
    type: 'string',
    group: 'database',
    describe: 'seconds a backup waits for its WAL to be archived (default 300)',
    placement: false,
  },
  {
    key: 'PITR_ARCHIVE_LOOKAHEAD',
    flag: 'archive-lookahead',
    type: 'string',
    group: 'tuning',
    describe: 'most files the resident archiver keeps stored ahead of PostgreSQL (default 8; 0 = off)',
    placement: false,
  },
  {
    key: 'PITR_ARCHIVE_CONCURRENCY',
    flag: 'archive-concurrency',
    type: 'string',
    group: 'tuning',
    describe: 'files the resident archiver stores at once (default 2)',
    placement: false,
  },
  {
    key: 'PITR_FETCH_PREFETCH',
    flag: 'fetch-prefetch',
    type: 'string',
    group: 'tuning',
    describe: 'segments wal-fetch prefetches (default 8; 0 = off)',
    placement: false,
  },
  {
    key: 'PITR_FETCH_CONCURRENCY',
    flag: 'fetch-concurrency',
    type: 'string',
    group: 'tuning',
    describe: 'segments the prefetcher downloads at once (default 4)',
    placement: false,
  },
  { key: 'PITR_COMPRESS', flag: 'compress', type: 'string', group: 'repository', describe: 'compression: lz4 (default) or none' },
  {
    key: 'PITR_LOG_LEVEL',
    flag: 'log-level',
    type: 'string',
    group: 'general',
    describe: 'trace, debug, info (default), warn, error, silent',
    placement: false,
  },
  { key: 'PGDATA', flag: 'pgdata', type: 'string', group: 'database', describe: 'PostgreSQL data directory' },
  // What to keep and when to worry: read by expire, status and the agent, never by the WAL commands.
  ...(
    [
      ['PITR_RETENTION_FULL', 'retention-full', 'keep the newest N backups'],
      ['PITR_RETENTION_WINDOW', 'retention-window', 'keep every moment of this long restorable (30d)'],
      ['PITR_RETENTION_DAILY', 'retention-daily', 'keep the newest backup of each of the last N days that have one'],
      ['PITR_RETENTION_WEEKLY', 'retention-weekly', 'the same for ISO weeks'],
      ['PITR_RETENTION_MONTHLY', 'retention-monthly', 'the same for months'],
      ['PITR_TIMEZONE', 'timezone', 'the time zone of calendar days, weeks and months (default UTC)'],
    ] as const
  ).map(([key, flag, describe]) => ({
    key,
    flag,
    type: 'string' as const,
    group: 'retention' as const,
    describe,
    placement: false as const,
  })),
  ...(
    [
      ['PITR_ALERT_BACKUP_AGE', 'alert-backup-age', 'unhealthy when the last backup is older (default 25h)'],
      ['PITR_ALERT_ARCHIVE_AGE', 'alert-archive-age', 'unhealthy when the oldest .ready file (or the last archive) is older (default 15m)'],
      ['PITR_ALERT_RESTORE_TEST_AGE', 'alert-restore-test-age', 'unhealthy when the last restore test is older (default 35d)'],
    ] as const
  ).map(([key, flag, describe]) => ({ key, flag, type: 'string' as const, group: 'alerts' as const, describe, placement: false as const })),
  ...(
    [
      ['PITR_RESTORE_TEST_DIR', 'restore-test-dir', 'where restore-test restores its throwaway copy (default: the system temp dir)'],
      [
        'PITR_RESTORE_TEST_SQL',
        'restore-test-sql',
        'SQL files of checks for restore-test, comma-separated (each statement must answer true)',
      ],
    ] as const
  ).map(([key, flag, describe]) => ({ key, flag, type: 'string' as const, group: 'jobs' as const, describe, placement: false as const })),
  // Where the agent (and `pitr notify --test`) sends its messages. The three URLs carry tokens
  // or passwords: they have no flag, so they never reach a command line or `ps`.
  ...(
    [
      ['PITR_NOTIFY_SLACK_WEBHOOK', 'Slack incoming webhook URL'],
      ['PITR_NOTIFY_WEBHOOK_URL', 'URL that receives each notification as a JSON POST'],
      ['PITR_SMTP_URL', 'SMTP server for e-mail: smtp://user:pass@host:port or smtps://…'],
    ] as const
  ).map(([key, describe]) => ({ key, type: 'string' as const, group: 'notify' as const, describe, placement: false as const })),
  ...(
    [
      [
        'PITR_NOTIFY_EMAIL_TO',
        'notify-email-to',
        'e-mail notifications to these addresses (comma-separated; with PITR_NOTIFY_EMAIL_FROM and PITR_SMTP_URL)',
      ],
      ['PITR_NOTIFY_EMAIL_FROM', 'notify-email-from', 'the From address of e-mail notifications'],
      [
        'PITR_NOTIFY_RETRY',
        'notify-retry',
        'first retry delay of a notification channel that is down, doubling to at most 5m (default 5s)',
      ],
    ] as const
  ).map(([key, flag, describe]) => ({ key, flag, type: 'string' as const, group: 'notify' as const, describe, placement: false as const })),
  ...(
    [
      [
        'PITR_SCHEDULE_BACKUP',
        'schedule-backup',
        'when the agent takes a base backup: cron, 5 fields or 6 with seconds first, or off (default "0 2 * * *")',
      ],
      ['PITR_SCHEDULE_VERIFY', 'schedule-verify', 'when the agent runs pitr verify (default "0 4 * * 0")'],
      ['PITR_SCHEDULE_RESTORE_TEST', 'schedule-restore-test', 'when the agent runs pitr restore-test (default "0 5 1 * *")'],
      ['PITR_SCHEDULE_DUMP', 'schedule-dump', 'when the agent takes a logical dump (default off)'],
      ['PITR_WATCH_INTERVAL', 'watch-interval', 'how often the agent checks health and notifies on a change (default 60s)'],
      [
        'PITR_HTTP_LISTEN',
        'http-listen',
        'where the agent serves its dashboard, API and metrics: HOST:PORT (default 127.0.0.1:9733), or off',
      ],
    ] as const
  ).map(([key, flag, describe]) => ({ key, flag, type: 'string' as const, group: 'agent' as const, describe, placement: false as const })),
  // A secret: no flag, so it never reaches a command line or `ps`.
  {
    key: 'PITR_HTTP_TOKEN',
    type: 'string',
    group: 'agent',
    describe: "the bearer token the agent's POST routes (back up now, run a restore test) require; unset: the API is read-only",
    placement: false,
  },
] as const satisfies readonly SettingDef[];

/** Settings no WAL command reads: never passed on to archive_command or restore_command. */
export const NOT_FOR_WAL_COMMANDS: ReadonlySet<HelpGroup> = new Set(['retention', 'alerts', 'jobs', 'notify', 'agent']);

export type SettingKey = (typeof SETTINGS)[number]['key'];

/** The settings a command line may carry: all but the secrets, which have no flag. */
export const FLAG_SETTINGS = SETTINGS.filter((s): s is Extract<(typeof SETTINGS)[number], { flag: string }> => 'flag' in s);

/** Flags that are not settings: they never come from the environment or the file. */
export const PLAIN_FLAGS = {
  config: {
    group: 'general',
    type: 'string',
    describe: 'config file (dotenv); default $PITR_CONFIG, else /etc/pitr/pitr.env if it exists',
  },
  'db-url': { group: 'database', type: 'string', describe: 'database connection URL (default: libpq variables PGHOST, PGPORT, ...)' },
  json: { group: 'general', type: 'boolean', describe: 'machine-readable output on stdout' },
} as const;

/**
 * Keys a config file may carry besides SETTINGS: the libpq and AWS SDK variables. They are
 * exported into the process environment (unless already set there) so that pg, libpq tools
 * and the SDK's default credential chain read them exactly as they would from systemd's
 * EnvironmentFile=.
 */
export const PASS_THROUGH_KEYS = new Set([
  'PGHOST',
  'PGPORT',
  'PGUSER',
  'PGDATABASE',
  'PGPASSWORD',
  'PGPASSFILE',
  'PGSSLMODE',
  'PGAPPNAME',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'AWS_PROFILE',
  'AWS_REGION',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_CA_BUNDLE',
]);

/** Keys whose values are secrets: never logged, never echoed in an error. */
export const SECRET_KEYS = new Set([
  'PGPASSWORD',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_SESSION_TOKEN',
  'PITR_NOTIFY_SLACK_WEBHOOK',
  'PITR_NOTIFY_WEBHOOK_URL',
  'PITR_SMTP_URL',
  'PITR_HTTP_TOKEN',
]);

export const DEFAULT_CONFIG_FILE = '/etc/pitr/pitr.env';
