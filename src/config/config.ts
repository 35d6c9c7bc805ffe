// Resolves the effective configuration: flag > process environment > config file > default.
import { readFileSync, existsSync, statSync } from 'node:fs';
import { userInfo } from 'node:os';
import { parseEnv } from 'node:util';
import { ConfigError } from '../errors.js';
import { parseDuration } from './duration.js';
import { notifySettings, type NotifySettings } from './notify-settings.js';
import {
  DEFAULT_CONFIG_FILE,
  FLAG_SETTINGS,
  NOT_FOR_WAL_COMMANDS,
  PASS_THROUGH_KEYS,
  SECRET_KEYS,
  SETTINGS,
  type SettingKey,
} from './settings.js';

export type { NotifySettings } from './notify-settings.js';

export type Compression = 'lz4' | 'none';
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export interface S3Settings {
  endpoint?: string;
  region: string;
  forcePathStyle: boolean;
  checksum: 'when_required' | 'when_supported';
  /**
   * The store never keeps part of an interrupted upload under its key (AWS S3, MinIO, GCS do
   * not): an object listed is whole, and readers need not check each header. False for a store
   * that does (s3rver).
   */
  atomicWrites: boolean;
  /** Server-side encryption asked of the store on every upload, and its KMS key. */
  sse?: { algorithm: 'AES256' | 'aws:kms'; kmsKeyId?: string };
  /** The storage class of every upload (x-amz-storage-class); the bucket's default when absent. */
  storageClass?: string;
  maxAttempts: number;
  connectTimeoutMs: number;
  requestTimeoutMs: number;
}

export interface Config {
  /** The config file that was read, if any (restore writes it into restore_command). */
  configFile?: string;
  repo?: string;
  s3: S3Settings;
  compress: Compression;
  /** Encrypt every object to these age X25519 recipients (PITR_ENCRYPT_RECIPIENTS); absent: store in the clear. */
  recipients?: readonly string[];
  /** The age identity file to decrypt with (PITR_ENCRYPT_IDENTITY_FILE): read only when a read needs it. */
  identityFile?: string;
  logLevel: LogLevel;
  pgdata?: string;
  dbUrl?: string;
  /** How long `pitr backup` waits for the WAL up to its stop LSN to be archived. */
  backupWalTimeoutMs: number;
  /** wal-push: other .ready files to archive ahead of PostgreSQL's calls, and how many at once. */
  archiveLookahead: number;
  archiveConcurrency: number;
  /** wal-fetch: segments to download ahead of recovery into the spool, and how many at once. */
  fetchPrefetch: number;
  fetchConcurrency: number;
  json: boolean;
  /** What expire keeps (docs/cli.md, Retention); every rule unset keeps nothing on its own. */
  retention: RetentionSettings;
  /** status's thresholds (PITR_ALERT_*). */
  alerts: AlertSettings;
  /** restore-test: where its throwaway copy goes (default: the system temp dir), and its SQL check files. */
  restoreTest: { dir?: string; sql: string[] };
  /** Where the agent and `pitr notify --test` send notifications (PITR_NOTIFY_*, PITR_SMTP_URL). */
  notify: NotifySettings;
  /** pitr agent: each job's schedule as written (checked by agent/schedules.ts, which loads the cron library) and the health watch's period. */
  agent: AgentSettings;
  /** Warnings found while loading (e.g. a world-readable file with secrets), logged once a logger exists. */
  warnings: string[];
  /**
   * Settings given by flag or environment, not by the config file, as `--flag value` pairs:
   * what a command PostgreSQL runs with its own environment must be told on its command line.
   */
  givenOutsideFile: [flag: string, value: string][];
  /** The keys the config file sets (settings and the libpq/AWS keys it passes on). */
  keysInFile: ReadonlySet<string>;
}

export interface RetentionSettings {
  /** Keep the newest N backups. */
  full?: number;
  /** Keep every moment of this many milliseconds restorable. */
  windowMs?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  /** IANA time zone of calendar days, weeks and months (PITR_TIMEZONE, default UTC); unchecked: see checkedTimeZone. */
  timeZone: string;
}

export interface AgentSettings {
  schedules: Record<ScheduledJob, string>;
  watchIntervalMs: number;
  /** Where the agent serves HTTP (PITR_HTTP_LISTEN), null when off. */
  httpListen: { host: string; port: number } | null;
  /** The bearer token of the POST routes (PITR_HTTP_TOKEN); absent: the API is read-only. */
  httpToken?: string;
}
export const SCHEDULED_JOBS = ['backup', 'verify', 'restore-test', 'dump'] as const;
export type ScheduledJob = (typeof SCHEDULED_JOBS)[number];

export interface AlertSettings {
  backupAgeMs: number;
  archiveAgeMs: number;
  restoreTestAgeMs: number;
}

/** Parsed command-line flags, keyed by flag name (e.g. 'repo', 'log-level', 'config'). */
export type Flags = Record<string, string | boolean | undefined>;

const LOG_LEVELS: readonly LogLevel[] = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'];

/** `defaultLogLevel`: when neither flag, environment nor file sets one (each command has its own). */
/**
 * `walOnly`: for the WAL commands (wal-push, wal-fetch and their workers), which read no job
 * setting (retention, alerts, restore tests, notifications, the agent: NOT_FOR_WAL_COMMANDS).
 * Those are then left at their defaults unread, so a typo in one of them never stops
 * archiving or recovery; every other command still reports it.
 */
export function loadConfig(
  flags: Flags,
  env: NodeJS.ProcessEnv = process.env,
  defaultLogLevel: LogLevel = 'info',
  options: { walOnly?: boolean } = {},
): Config {
  const warnings: string[] = [];
  const configFile = pickConfigFile(flags, env);
  const fromFile = configFile ? readConfigFile(configFile, warnings) : {};

  // Pass the libpq/AWS keys of the file on to the libraries that read process.env.
  for (const [key, value] of Object.entries(fromFile)) {
    if (PASS_THROUGH_KEYS.has(key) && env[key] === undefined) env[key] = value;
  }

  const raw = (key: SettingKey): string | undefined => {
    const def = SETTINGS.find((s) => s.key === key);
    const flag = def && 'flag' in def ? flags[def.flag] : undefined;
    if (flag !== undefined) return String(flag);
    return env[key] ?? fromFile[key];
  };
  const jobRaw = (key: SettingKey): string | undefined => (options.walOnly ? undefined : raw(key));
  const label = (key: SettingKey): string => {
    const def = SETTINGS.find((s) => s.key === key);
    return def && 'flag' in def ? `${key} (--${def.flag})` : key;
  };

  const compress = raw('PITR_COMPRESS') ?? 'lz4';
  if (compress !== 'lz4' && compress !== 'none') {
    throw new ConfigError(`${label('PITR_COMPRESS')} must be lz4 or none, got "${compress}"`);
  }
  const logLevel = (raw('PITR_LOG_LEVEL') ?? defaultLogLevel) as LogLevel;
  if (!LOG_LEVELS.includes(logLevel)) {
    throw new ConfigError(`${label('PITR_LOG_LEVEL')} must be one of ${LOG_LEVELS.join(', ')}, got "${logLevel}"`);
  }
  const checksum = raw('PITR_S3_CHECKSUM') ?? 'when_required';
  if (checksum !== 'when_required' && checksum !== 'when_supported') {
    throw new ConfigError(`${label('PITR_S3_CHECKSUM')} must be when_required or when_supported, got "${checksum}"`);
  }
  const int = (key: SettingKey, fallback: number, min: number): number => {
    const value = raw(key);
    if (value === undefined || value === '') return fallback;
    const n = Number(value);
    if (!Number.isInteger(n) || n < min) throw new ConfigError(`${label(key)} must be a whole number >= ${min}, got "${value}"`);
    return n;
  };

  const repo = nonEmpty(raw('PITR_REPO'));
  const pgdata = nonEmpty(raw('PGDATA'));
  const endpoint = nonEmpty(raw('PITR_S3_ENDPOINT'));
  return {
    configFile,
    repo,
    s3: {
      endpoint,
      region: nonEmpty(raw('PITR_S3_REGION')) ?? nonEmpty(env.AWS_REGION) ?? 'us-east-1',
      forcePathStyle: bool(raw('PITR_S3_FORCE_PATH_STYLE'), label('PITR_S3_FORCE_PATH_STYLE')),
      checksum,
      sse: serverSideEncryption(nonEmpty(raw('PITR_S3_SSE')), nonEmpty(raw('PITR_S3_SSE_KMS_KEY_ID')), label),
      storageClass: storageClass(nonEmpty(raw('PITR_S3_STORAGE_CLASS')), label('PITR_S3_STORAGE_CLASS')),
      atomicWrites: bool(raw('PITR_S3_ATOMIC_WRITES'), label('PITR_S3_ATOMIC_WRITES'), true),
      maxAttempts: int('PITR_S3_MAX_ATTEMPTS', 3, 1),
      connectTimeoutMs: int('PITR_S3_CONNECT_TIMEOUT_MS', 3000, 1),
      requestTimeoutMs: int('PITR_S3_REQUEST_TIMEOUT_MS', 10000, 1),
    },
    compress,
    recipients: ageRecipients(nonEmpty(raw('PITR_ENCRYPT_RECIPIENTS')), label('PITR_ENCRYPT_RECIPIENTS')),
    identityFile: identityFilePath(nonEmpty(raw('PITR_ENCRYPT_IDENTITY_FILE')), label('PITR_ENCRYPT_IDENTITY_FILE')),
    logLevel,
    pgdata,
    dbUrl: typeof flags['db-url'] === 'string' ? flags['db-url'] : undefined,
    backupWalTimeoutMs: int('PITR_BACKUP_WAL_TIMEOUT', 300, 1) * 1000,
    archiveLookahead: int('PITR_ARCHIVE_LOOKAHEAD', 8, 0),
    archiveConcurrency: int('PITR_ARCHIVE_CONCURRENCY', 2, 1),
    fetchPrefetch: int('PITR_FETCH_PREFETCH', 8, 0),
    fetchConcurrency: int('PITR_FETCH_CONCURRENCY', 4, 1),
    json: flags.json === true,
    retention: {
      full: optionalCount(jobRaw('PITR_RETENTION_FULL'), label('PITR_RETENTION_FULL')),
      windowMs: optionalDuration(jobRaw('PITR_RETENTION_WINDOW'), label('PITR_RETENTION_WINDOW')),
      daily: optionalCount(jobRaw('PITR_RETENTION_DAILY'), label('PITR_RETENTION_DAILY')),
      weekly: optionalCount(jobRaw('PITR_RETENTION_WEEKLY'), label('PITR_RETENTION_WEEKLY')),
      monthly: optionalCount(jobRaw('PITR_RETENTION_MONTHLY'), label('PITR_RETENTION_MONTHLY')),
      // Checked where it is used (config/time-zone.ts): constructing an Intl.DateTimeFormat costs
      // 10-20 ms, which every wal-push would pay.
      timeZone: nonEmpty(jobRaw('PITR_TIMEZONE')) ?? 'UTC',
    },
    alerts: {
      backupAgeMs: optionalDuration(jobRaw('PITR_ALERT_BACKUP_AGE'), label('PITR_ALERT_BACKUP_AGE')) ?? 25 * 3_600_000,
      archiveAgeMs: optionalDuration(jobRaw('PITR_ALERT_ARCHIVE_AGE'), label('PITR_ALERT_ARCHIVE_AGE')) ?? 15 * 60_000,
      restoreTestAgeMs: optionalDuration(jobRaw('PITR_ALERT_RESTORE_TEST_AGE'), label('PITR_ALERT_RESTORE_TEST_AGE')) ?? 35 * 86_400_000,
    },
    restoreTest: {
      dir: nonEmpty(jobRaw('PITR_RESTORE_TEST_DIR')),
      sql: (jobRaw('PITR_RESTORE_TEST_SQL') ?? '')
        .split(',')
        .map((f) => f.trim())
        .filter((f) => f !== ''),
    },
    notify: notifySettings(
      {
        slackWebhook: nonEmpty(jobRaw('PITR_NOTIFY_SLACK_WEBHOOK')),
        webhookUrl: nonEmpty(jobRaw('PITR_NOTIFY_WEBHOOK_URL')),
        smtpUrl: nonEmpty(jobRaw('PITR_SMTP_URL')),
        emailTo: nonEmpty(jobRaw('PITR_NOTIFY_EMAIL_TO')),
        emailFrom: nonEmpty(jobRaw('PITR_NOTIFY_EMAIL_FROM')),
        retry: nonEmpty(jobRaw('PITR_NOTIFY_RETRY')),
      },
      label,
    ),
    agent: {
      schedules: {
        backup: nonEmpty(jobRaw('PITR_SCHEDULE_BACKUP')) ?? '0 2 * * *',
        verify: nonEmpty(jobRaw('PITR_SCHEDULE_VERIFY')) ?? '0 4 * * 0',
        'restore-test': nonEmpty(jobRaw('PITR_SCHEDULE_RESTORE_TEST')) ?? '0 5 1 * *',
        dump: nonEmpty(jobRaw('PITR_SCHEDULE_DUMP')) ?? 'off',
      },
      watchIntervalMs: watchInterval(jobRaw('PITR_WATCH_INTERVAL'), label('PITR_WATCH_INTERVAL')),
      httpListen: listenAddress(nonEmpty(jobRaw('PITR_HTTP_LISTEN')) ?? '127.0.0.1:9733', label('PITR_HTTP_LISTEN')),
      httpToken: httpToken(nonEmpty(jobRaw('PITR_HTTP_TOKEN'))),
    },
    warnings,
    keysInFile: new Set(Object.keys(fromFile)),
    givenOutsideFile: FLAG_SETTINGS.flatMap((s): [string, string][] => {
      if (NOT_FOR_WAL_COMMANDS.has(s.group)) return [];
      const value = flags[s.flag] ?? env[s.key];
      if (value === undefined || value === '') return [];
      return [[s.flag, s.type === 'boolean' ? String(bool(String(value), label(s.key))) : String(value)]];
    }),
  };
}

/**
 * age X25519 recipients (bech32 "age1" and 58 characters: 32 bytes and a checksum, which the
 * age package checks when it first encrypts); none given: undefined. Checked here by shape
 * only: loading the age package would cost every wal-push. A value is echoed only when it is
 * a public key: a secret key pasted by mistake must not reach a log.
 */
function ageRecipients(value: string | undefined, name: string): readonly string[] | undefined {
  if (value === undefined) return undefined;
  const keys = [...new Set(value.split(/[\s,]+/).filter((k) => k !== ''))];
  for (const key of keys) {
    if (/^AGE-SECRET-KEY-/i.test(key))
      throw new ConfigError(
        `${name} holds a secret key (AGE-SECRET-KEY-…): give its public key (age-keygen -y key.txt prints it) and keep the secret key off this host`,
      );
    // Post-quantum and tag recipients have the human part "age1pq" / "age1tag" before bech32's
    // separator "1"; an X25519 key's data may itself begin with "pq" (1 key in 1024), so the
    // separator is what tells them apart.
    if (/^age1(pq|tag)1/.test(key))
      throw new ConfigError(`${name}: ${key.slice(0, 12)}… is not an X25519 recipient: pitr encrypts to age1… keys made by age-keygen`);
    if (!/^age1[02-9ac-hj-np-z]{58}$/.test(key))
      throw new ConfigError(
        `${name}: "${key.startsWith('age1') ? key : `${key.slice(0, 4)}…`}" is not an age public key (age1… from age-keygen)`,
      );
  }
  return keys.length > 0 ? keys : undefined;
}

/** The identity file's path; a secret key given in its place is refused, and never echoed. */
function identityFilePath(value: string | undefined, name: string): string | undefined {
  if (value !== undefined && /AGE-SECRET-KEY-/i.test(value))
    throw new ConfigError(
      `${name} holds a secret key, not a path: write the key into a file only this user can read (chmod 600) and give its path`,
    );
  return value;
}

/** A whole number of at least 1, or undefined when unset. */
function optionalCount(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new ConfigError(`${name} "${value}" is not a count: give a whole number of at least 1, or leave it unset`);
  return n;
}

function optionalDuration(value: string | undefined, name: string): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const ms = parseDuration(value);
  if (ms === null || ms <= 0) throw new ConfigError(`${name} "${value}" is not a duration: write it as 30s, 15m, 25h or 7d`);
  return ms;
}

/** HOST:PORT ([v6]:PORT for an IPv6 address), or off. */
function listenAddress(value: string, name: string): { host: string; port: number } | null {
  if (value.toLowerCase() === 'off') return null;
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s]+)):(\d{1,5})$/.exec(value);
  const port = Number(m?.[3]);
  if (!m || port < 1 || port > 65535)
    throw new ConfigError(
      `${name} "${value}" is not HOST:PORT: e.g. 127.0.0.1:9733 (loopback only), 0.0.0.0:9733 (every interface), or off`,
    );
  return { host: m[1] ?? m[2]!, port };
}

/** The token, never echoed; one short enough to guess is refused. */
function httpToken(value: string | undefined): string | undefined {
  if (value !== undefined && value.length < 16)
    throw new ConfigError('PITR_HTTP_TOKEN is shorter than 16 characters: make a long random one, e.g. with "openssl rand -hex 32"');
  return value;
}

/** The agent's health watch period: at least a second, at most a day (a timer holds 24.8 days). */
function watchInterval(value: string | undefined, name: string): number {
  const ms = optionalDuration(value, name) ?? 60_000;
  if (ms < 1000 || ms > 86_400_000) throw new ConfigError(`${name} "${value}" is out of range: give 1s to 1d (default 60s)`);
  return ms;
}

function pickConfigFile(flags: Flags, env: NodeJS.ProcessEnv): string | undefined {
  if (typeof flags.config === 'string') return flags.config;
  if (env.PITR_CONFIG) return env.PITR_CONFIG;
  return existsSync(DEFAULT_CONFIG_FILE) ? DEFAULT_CONFIG_FILE : undefined;
}

/** Why a config file cannot be read, and the fix. Built only on failure: it looks the user up. */
function unreadable(code: string | undefined): string {
  switch (code) {
    case 'ENOENT':
      return 'no such file: fix the path given by --config or PITR_CONFIG';
    case 'EACCES':
      return `permission denied for this user (${userName()}): chgrp the file to this user's group and chmod 640 it, or run pitr as its owner`;
    case 'EISDIR':
      return 'it is a directory: give the config file itself with --config or PITR_CONFIG';
    default:
      return `${code}: fix the path given by --config or PITR_CONFIG`;
  }
}

function userName(): string {
  try {
    return userInfo().username;
  } catch {
    return `uid ${process.getuid?.()}`;
  }
}

function readConfigFile(path: string, warnings: string[]): Record<string, string> {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read config file ${path}: ${unreadable((err as NodeJS.ErrnoException).code ?? String(err))}`);
  }
  const values = parseEnv(text) as Record<string, string>;
  const known = new Set<string>(SETTINGS.map((s) => s.key));
  for (const key of Object.keys(values)) {
    if (!known.has(key) && !PASS_THROUGH_KEYS.has(key)) {
      throw new ConfigError(`unknown key ${key} in config file ${path}: see docs/configuration.md for the keys`);
    }
  }
  const hasSecret = Object.keys(values).some((k) => SECRET_KEYS.has(k));
  if (hasSecret && (statSync(path).mode & 0o004) !== 0) {
    warnings.push(`config file ${path} holds secrets and is world-readable: chmod 640 it`);
  }
  return values;
}

function serverSideEncryption(
  algorithm: string | undefined,
  kmsKeyId: string | undefined,
  label: (key: SettingKey) => string,
): S3Settings['sse'] {
  if (algorithm === undefined) {
    if (kmsKeyId !== undefined)
      throw new ConfigError(
        `${label('PITR_S3_SSE_KMS_KEY_ID')} is set, for aws:kms encryption: set PITR_S3_SSE=aws:kms too, or leave the key out`,
      );
    return undefined;
  }
  if (algorithm !== 'AES256' && algorithm !== 'aws:kms')
    throw new ConfigError(`${label('PITR_S3_SSE')} must be AES256 or aws:kms, got "${algorithm}"`);
  if (kmsKeyId !== undefined && algorithm !== 'aws:kms')
    throw new ConfigError(
      `${label('PITR_S3_SSE_KMS_KEY_ID')} is set, for aws:kms encryption, but PITR_S3_SSE is ${algorithm}: set it to aws:kms, or leave the key out`,
    );
  return kmsKeyId === undefined ? { algorithm } : { algorithm, kmsKeyId };
}

/**
 * S3's storage classes that serve a GET at once. GLACIER and DEEP_ARCHIVE objects need a
 * restore request first, hours long: wal-fetch would fail in the middle of a recovery.
 */
const READABLE_STORAGE_CLASSES = [
  'STANDARD',
  'REDUCED_REDUNDANCY',
  'STANDARD_IA',
  'ONEZONE_IA',
  'INTELLIGENT_TIERING',
  'GLACIER_IR',
  'EXPRESS_ONEZONE',
  'OUTPOSTS',
];

function storageClass(value: string | undefined, label: string): string | undefined {
  if (value === undefined) return undefined;
  if (value === 'GLACIER' || value === 'DEEP_ARCHIVE')
    throw new ConfigError(
      `${label} is ${value}, whose objects cannot be read without a restore request of hours, so recovery would stop: use GLACIER_IR, STANDARD_IA or another class read at once, and a lifecycle rule for older backups`,
    );
  if (!READABLE_STORAGE_CLASSES.includes(value))
    throw new ConfigError(`${label} must be one of ${READABLE_STORAGE_CLASSES.join(', ')}, got "${value}"`);
  return value;
}

/** Unset or empty: `unset`. */
function bool(value: string | undefined, label: string, unset = false): boolean {
  if (value === undefined || value === '') return unset;
  const v = value.toLowerCase();
  if (['true', '1', 'yes', 'on'].includes(v)) return true;
  if (['false', '0', 'no', 'off'].includes(v)) return false;
  throw new ConfigError(`${label} must be true or false, got "${value}"`);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
