// This pitr as PostgreSQL runs it: archive_command and restore_command. PostgreSQL runs them
// with its own PATH and environment, so they name the launcher absolutely, the config file
// this call read, and every setting this call was given by flag or environment.
import { dirname, join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { confQuote, shellQuote } from '../pg/quoting.js';
import { START_ENV } from '../launcher/fingerprint.js';

/** The launcher this call came through (bin/pitr exports its own path), else the one beside the bundle. */
export function launcherPath(): string {
  return resolve(process.env.PITR_LAUNCHER ?? join(dirname(process.argv[1]!), '..', 'bin', 'pitr'));
}

/** Given for this call only: PostgreSQL runs the commands in the data directory, at their own log level. */
const NOT_PASSED_ON = new Set(['pgdata', 'log-level']);

export interface PostgresSettings {
  /** postgresql.conf lines, as they stand. */
  archiveCommand: string;
  restoreCommand: string;
  /** Credentials this call took from its environment, which PostgreSQL's does not have. */
  credentialsOnlyInEnvironment: string[];
}

/** Where the AWS SDK finds credentials; never on a command line. */
const CREDENTIAL_KEYS = ['AWS_ACCESS_KEY_ID', 'AWS_SECRET_ACCESS_KEY', 'AWS_SESSION_TOKEN', 'AWS_PROFILE'];

/** The postgresql.conf lines that run this pitr, configured as this call is. */
export function postgresSettings(config: Config, pitrPath = launcherPath()): PostgresSettings {
  const words = [pitrPath];
  if (config.configFile) words.push('--config', resolve(config.configFile));
  for (const [flag, value] of config.givenOutsideFile) {
    if (NOT_PASSED_ON.has(flag)) continue;
    // A boolean flag given as false is the default: nothing to say.
    if (value === 'true') words.push(`--${flag}`);
    else if (value !== 'false') words.push(`--${flag}`, value);
  }
  const pitr = words.map(shellQuote).join(' ');
  const s3 = config.repo?.startsWith('s3://') === true;
  return {
    archiveCommand: `archive_command = ${confQuote(`${pitr} wal-push %p`)}`,
    restoreCommand: `restore_command = ${confQuote(`${pitr} wal-fetch %f %p`)}`,
    credentialsOnlyInEnvironment: s3 ? CREDENTIAL_KEYS.filter((key) => START_ENV[key] !== undefined && !config.keysInFile.has(key)) : [],
  };
}

/** What to put in postgresql.conf, for a person. */
export function describePostgresSettings(s: PostgresSettings): string {
  const lines = [
    'archive into it with, in postgresql.conf:',
    '  archive_mode = on',
    `  ${s.archiveCommand}`,
    'and for recovery (pitr restore writes it into what it restores):',
    `  ${s.restoreCommand}`,
  ];
  const missing = s.credentialsOnlyInEnvironment;
  if (missing.length > 0)
    lines.push(
      `note: ${missing.join(', ')} came from this shell's environment, which PostgreSQL does not have: ` +
        `put ${missing.length > 1 ? 'them' : 'it'} in the config file (chmod 640) or in the server's environment`,
    );
  return `${lines.join('\n')}\n`;
}
