import { statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { isDataDir } from './control-file.js';

/**
 * The data directory a WAL command serves. PostgreSQL runs archive_command and
 * restore_command in the data directory, so the working directory wins when it is one;
 * PGDATA (--pgdata) serves manual runs elsewhere.
 */
export function resolveDataDir(config: Config): string {
  const cwd = process.cwd();
  if (isDataDir(cwd) || !config.pgdata) return cwd;
  return config.pgdata;
}

/**
 * Whether `path` is a file directly in the pg_wal of a real data directory: the only place
 * the background workers (and the records and spool they keep there) serve. A WAL command
 * run by hand on a file elsewhere leaves nothing behind.
 */
export function inOwnPgWal(dataDir: string, path: string): boolean {
  return dirname(resolve(path)) === join(dataDir, 'pg_wal') && isDataDir(dataDir);
}

/**
 * Who owns the data directory, as uid and gid: the user its server, and so archive_command,
 * runs as. Null when `dataDir` is not given or not a data directory.
 */
export function dataDirOwner(dataDir: string | undefined): { uid: number; gid: number } | null {
  if (!dataDir || !isDataDir(dataDir)) return null;
  const { uid, gid } = statSync(dataDir);
  return { uid, gid };
}
