// The invocation fingerprint: what makes two `pitr` calls store into (or fetch from) the same
// place. The background workers (resident archiver, prefetcher) tag what they leave behind
// with the fingerprint of the call that started them, and the launcher (bin/pitr, a POSIX
// shell script) answers a later call from that work only when its own fingerprint is the
// same. So a record made for one repository never vouches for a push into another.
//
// The text hashed is built from the raw call, not from the resolved configuration, because
// the launcher computes it too, with shell builtins only:
//   - every argument before the command word (the flags), length-prefixed;
//   - every variable of FINGERPRINT_KEYS that is set, in that order, length-prefixed;
//   - the identity (device, inode, size, mtime, ctime) of the config file in use, or "-".
// Length prefixes make the text unambiguous whatever the values hold. Any difference only
// makes the two sides disagree, which sends the call to the full Node path: safe, slower.
// bin/pitr repeats FINGERPRINT_KEYS; test/unit/invocation.test.ts checks both agree.
import { createHash } from 'node:crypto';
import { DEFAULT_CONFIG_FILE } from '../config/settings.js';
import { fileIdentity } from '../os/file-identity.js';

/**
 * The environment as the process started, before loadConfig exports a config file's keys:
 * the launcher sees only this one. Captured when main.ts loads this module, first of all.
 */
export const START_ENV: NodeJS.ProcessEnv = { ...process.env };

/** Every variable that can change where a WAL command stores or what it reads. */
export const FINGERPRINT_KEYS = [
  'PITR_CONFIG', 'PITR_REPO', 'PITR_S3_ENDPOINT', 'PITR_S3_REGION', 'PITR_S3_FORCE_PATH_STYLE', 'PITR_S3_CHECKSUM',
  'PITR_COMPRESS', 'PGDATA', 'AWS_REGION', 'AWS_DEFAULT_REGION', 'AWS_PROFILE', 'AWS_CONFIG_FILE',
  'AWS_SHARED_CREDENTIALS_FILE', 'AWS_ENDPOINT_URL', 'AWS_ENDPOINT_URL_S3', 'AWS_ACCESS_KEY_ID',
] as const;

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

export function invocationFingerprint(flags: readonly string[], env: NodeJS.ProcessEnv = START_ENV): string {
  const field = (value: string) => `${Buffer.byteLength(value)}:${value}`;
  const lines = ['pitr-invocation-1'];
  for (const arg of flags) lines.push(`a${field(arg)}`);
  for (const key of FINGERPRINT_KEYS) {
    const value = env[key];
    if (value !== undefined) lines.push(`e${key}=${field(value)}`);
  }
  lines.push(`c${fileIdentity(configFileOf(flags, env)) ?? '-'}`);
  return createHash('sha256').update(`${lines.join('\n')}\n`).digest('hex');
}

export interface Call {
  /** The flags, as a worker started for this call gets them. */
  flags: string[];
  fingerprint: string;
}

/** This process's own call of `command` (a WAL command in the launcher's shape), or null. */
export function ownCall(command: keyof typeof LAUNCHER_COMMANDS): Call | null {
  const flags = flagsOf(process.argv.slice(2), command);
  return flags === null ? null : { flags, fingerprint: invocationFingerprint(flags) };
}

/** The fingerprint of a background worker, started as `[flags...] <command>` by the call it serves. */
export function workerFingerprint(command: string): string {
  const argv = process.argv.slice(2);
  return invocationFingerprint(argv.slice(0, argv.lastIndexOf(command)));
}
