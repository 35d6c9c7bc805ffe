// This pitr as PostgreSQL runs it: archive_command and restore_command. PostgreSQL runs them
// with its own PATH and environment, so they name the launcher absolutely, the config file
// this call read, and every setting this call was given by flag or environment.
import { dirname, join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { confQuote, shellQuote } from '../restore/recovery-conf.js';

/** The launcher this call came through (bin/pitr exports its own path), else the one beside the bundle. */
export function launcherPath(): string {
  return resolve(process.env.PITR_LAUNCHER ?? join(dirname(process.argv[1]!), '..', 'bin', 'pitr'));
}

/** Given for this call only: PostgreSQL runs the commands in the data directory, at their own log level. */
const NOT_PASSED_ON = new Set(['pgdata', 'log-level']);

/** The postgresql.conf lines that run this pitr, configured as this call is. */
export function postgresSettings(config: Config, pitrPath = launcherPath()): { archiveCommand: string; restoreCommand: string } {
  const words = [pitrPath];
  if (config.configFile) words.push('--config', resolve(config.configFile));
  for (const [flag, value] of config.givenOutsideFile) {
    if (NOT_PASSED_ON.has(flag)) continue;
    // A boolean flag given as false is the default: nothing to say.
    if (value === 'true') words.push(`--${flag}`);
    else if (value !== 'false') words.push(`--${flag}`, value);
  }
  const pitr = words.map(shellQuote).join(' ');
  return {
    archiveCommand: `archive_command = ${confQuote(`${pitr} wal-push %p`)}`,
    restoreCommand: `restore_command = ${confQuote(`${pitr} wal-fetch %f %p`)}`,
  };
}
