// The invocation fingerprint: what makes two `pitr` calls store into (or fetch from) the same
// place. The background workers (resident archiver, prefetcher) tag what they leave behind
// with the fingerprint of the call that started them, and the launcher (bin/pitr, a POSIX
// shell script) answers a later call from that work only when its own fingerprint is the
// same. So a record made for one repository, or under another configuration, never vouches
// for a push PostgreSQL's next call would make.
//
// The text hashed is built from the raw call, not from the resolved configuration, because
// the launcher computes it too, with shell builtins and one `stat`:
//   - every argument before the command word (the flags), length-prefixed;
//   - every variable of FINGERPRINT_KEYS that is set, in that order, length-prefixed: every
//     pitr setting but those that only tune speed or logging, HOME, and every variable the
//     AWS SDK reads except secrets;
//   - the files the configuration is read from, each with its identity (device, inode, size,
//     mtime, ctime; "-" when absent), links followed: the config file in use, and the AWS
//     SDK's shared config and credentials files (from the environment, else named in the
//     config file, else under $HOME). Editing any of them changes its ctime, which no system
//     call can set back, so a changed endpoint_url changes the fingerprint.
// Length prefixes make the text unambiguous whatever the values hold. Any difference only
// makes the two sides disagree, which sends the call to the full Node path: safe, slower.
// bin/pitr repeats FINGERPRINT_KEYS; test/unit/invocation.test.ts checks both agree, and that
// the list covers every AWS_* variable the installed SDK reads.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { parseEnv } from 'node:util';
import { DEFAULT_CONFIG_FILE, SETTINGS } from '../config/settings.js';
import { fileIdentity } from '../os/file-identity.js';

/**
 * The environment as the process started, before loadConfig exports a config file's keys:
 * the launcher sees only this one. Captured when main.ts loads this module, first of all.
 */
export const START_ENV: NodeJS.ProcessEnv = { ...process.env };

/**
 * Every variable the AWS SDK (client-s3 and its credential chain) reads that can change where
 * an object goes or who writes it. Left out on purpose (AWS_ENV_EXEMPT): secrets, which must
 * never reach the launcher's kept text (a changed secret for the same key id reaches the same
 * account), and values that only label requests or change on their own.
 */
export const AWS_ENV_KEYS = [
  'AWS_REGION',
  'AWS_DEFAULT_REGION',
  'AWS_PROFILE',
  'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE',
  'AWS_ENDPOINT_URL',
  'AWS_ENDPOINT_URL_S3',
  'AWS_IGNORE_CONFIGURED_ENDPOINT_URLS',
  'AWS_ACCESS_KEY_ID',
  'AWS_ACCOUNT_ID',
  'AWS_ACCOUNT_ID_ENDPOINT_MODE',
  'AWS_ROLE_ARN',
  'AWS_ROLE_SESSION_NAME',
  'AWS_WEB_IDENTITY_TOKEN_FILE',
  'AWS_CONTAINER_CREDENTIALS_FULL_URI',
  'AWS_CONTAINER_CREDENTIALS_RELATIVE_URI',
  'AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE',
  'AWS_EC2_METADATA_DISABLED',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT',
  'AWS_EC2_METADATA_SERVICE_ENDPOINT_MODE',
  'AWS_EC2_METADATA_V1_DISABLED',
  'AWS_USE_FIPS_ENDPOINT',
  'AWS_USE_DUALSTACK_ENDPOINT',
  'AWS_S3_USE_ARN_REGION',
  'AWS_S3_DISABLE_MULTIREGION_ACCESS_POINTS',
  'AWS_S3_DISABLE_EXPRESS_SESSION_AUTH',
  'AWS_SIGV4A_SIGNING_REGION_SET',
  'AWS_AUTH_SCHEME_PREFERENCE',
  'AWS_CREDENTIAL_SCOPE',
  'AWS_DEFAULTS_MODE',
  'AWS_MAX_ATTEMPTS',
  'AWS_RETRY_MODE',
  'AWS_REQUEST_CHECKSUM_CALCULATION',
  'AWS_RESPONSE_CHECKSUM_VALIDATION',
  'AWS_DISABLE_CLOCK_SKEW_CORRECTION',
  'AWS_LOGIN_CACHE_DIRECTORY',
  'AWS_CA_BUNDLE',
] as const;

/** AWS_* names the SDK reads that stay out of the fingerprint, and why (see AWS_ENV_KEYS). */
export const AWS_ENV_EXEMPT: Record<string, string> = {
  AWS_SECRET_ACCESS_KEY: 'a secret',
  AWS_SESSION_TOKEN: 'a secret, and rotated',
  AWS_CONTAINER_AUTHORIZATION_TOKEN: 'a secret',
  AWS_CREDENTIAL_EXPIRATION: 'changes with every rotation of the same credentials',
  AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'silences a notice',
  AWS_SDK_UA_APP_ID: 'a label in the user agent',
  AWS_EXECUTION_ENV: 'a label in the user agent',
  AWS_LAMBDA_FUNCTION_NAME: 'only inside AWS Lambda',
  AWS_BEARER_TOKEN_: 'a prefix of per-service bearer tokens, a secret; S3 does not use them',
  AWS_BACKUP_WARM: 'a storage class name in the SDK, not a variable',
  AWS_BACKUP_LOW_COST_WARM: 'a storage class name in the SDK, not a variable',
};

/** Every variable that can change where a WAL command stores, what it reads, or how. */
export const FINGERPRINT_KEYS: readonly string[] = [
  ...SETTINGS.filter((s) => !('placement' in s)).map((s) => s.key),
  'PITR_CONFIG',
  'HOME',
  ...AWS_ENV_KEYS,
];

/** The commands the launcher answers, and how many positional arguments follow each. */
const LAUNCHER_COMMANDS = { 'wal-push': 1, 'wal-fetch': 2 } as const;

/**
 * The flags of a call in the one shape the launcher understands: `[flags...] command args`,
 * the command's arguments last. Null for any other shape (no fingerprint, no fast path).
 */
export function flagsOf(argv: readonly string[], command: keyof typeof LAUNCHER_COMMANDS): string[] | null {
  const at = argv.length - 1 - LAUNCHER_COMMANDS[command];
  return at >= 0 && argv[at] === command ? argv.slice(0, at) : null;
}

/** The config file the call would read, as loadConfig picks it. */
function configFileOf(flags: readonly string[], env: NodeJS.ProcessEnv): string {
  let file: string | undefined;
  flags.forEach((arg, i) => {
    if (arg === '--config') file = flags[i + 1];
    else if (arg.startsWith('--config=')) file = arg.slice('--config='.length);
  });
  return file ?? (env.PITR_CONFIG || DEFAULT_CONFIG_FILE);
}

/** The AWS SDK's shared files, and what each falls back to under the home directory. */
const AWS_SHARED_FILES = [
  ['AWS_CONFIG_FILE', 'config'],
  ['AWS_SHARED_CREDENTIALS_FILE', 'credentials'],
] as const;

/**
 * The files the configuration of this call is read from, or null when the launcher could not
 * find the same ones: a config file that names an AWS file in a form the launcher's simple
 * `KEY=value` reading takes differently from dotenv's (quotes with escapes, `export`, a
 * comment), or no HOME. Such a call gets no fast path rather than one that misses a file.
 */
export function configInputs(flags: readonly string[], env: NodeJS.ProcessEnv): string[] | null {
  const config = configFileOf(flags, env);
  let text = '';
  try {
    text = readFileSync(config, 'utf8');
  } catch {
    // absent or unreadable: loadConfig reports it; the identity below says "-"
  }
  const parsed = text === '' ? {} : (parseEnv(text) as Record<string, string>);
  const simple = simpleValues(text);
  const files = [config];
  for (const [key, leaf] of AWS_SHARED_FILES) {
    // loadConfig exports a config file's value only when the environment has none; the SDK
    // then takes the value, or its default when empty.
    let path = env[key];
    if (path === undefined) {
      if (parsed[key] !== simple.get(key)) return null;
      path = simple.get(key) ?? '';
    }
    // Without HOME the SDK takes the account's home directory (os.homedir()), which the
    // launcher cannot see: no fast path then, rather than one that misses that file.
    if ((path === '' || path.startsWith('~/')) && !env.HOME) return null;
    if (path === '') path = `${env.HOME}/.aws/${leaf}`;
    else if (path.startsWith('~/')) path = `${env.HOME}/${path.slice(2)}`;
    files.push(path);
  }
  return files;
}

/** The AWS file keys as bin/pitr reads them: a line `KEY=value`, one pair of plain quotes stripped; the last wins. */
function simpleValues(text: string): Map<string, string> {
  const values = new Map<string, string>();
  for (const line of text.split('\n')) {
    for (const [key] of AWS_SHARED_FILES) {
      if (!line.startsWith(`${key}=`)) continue;
      let value = line.slice(key.length + 1);
      const q = value[0];
      if ((q === '"' || q === "'") && value.length >= 2 && value.endsWith(q)) value = value.slice(1, -1);
      values.set(key, value);
    }
  }
  return values;
}

/** The fingerprint of a call with these flags and this environment; null when it can have no fast path. */
export function invocationFingerprint(flags: readonly string[], env: NodeJS.ProcessEnv = START_ENV): string | null {
  const inputs = configInputs(flags, env);
  if (inputs === null) return null;
  const field = (value: string) => `${Buffer.byteLength(value)}:${value}`;
  const lines = ['pitr-invocation-2'];
  for (const arg of flags) lines.push(`a${field(arg)}`);
  for (const key of FINGERPRINT_KEYS) {
    const value = env[key];
    if (value !== undefined) lines.push(`e${key}=${field(value)}`);
  }
  for (const path of inputs) lines.push(`f${field(path || '-')} ${(path && fileIdentity(path)) || '-'}`);
  return createHash('sha256')
    .update(`${lines.join('\n')}\n`)
    .digest('hex');
}

export interface Call {
  /** The flags, as a worker started for this call gets them. */
  flags: string[];
  fingerprint: string;
}

/** This process's own call of `command` (a WAL command in the launcher's shape), or null. */
export function ownCall(command: keyof typeof LAUNCHER_COMMANDS): Call | null {
  const flags = flagsOf(process.argv.slice(2), command);
  const fingerprint = flags === null ? null : invocationFingerprint(flags);
  return fingerprint === null ? null : { flags: flags!, fingerprint };
}

/** A background worker's flags: it is started as `[flags...] <command>` by the call it serves. */
export function workerFlags(command: string): string[] {
  const argv = process.argv.slice(2);
  return argv.slice(0, argv.lastIndexOf(command));
}
