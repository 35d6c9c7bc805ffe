// What restore_command can observe of a standby around promotion, read without a connection
// (PostgreSQL 15, src/backend/access/transam/xlogrecovery.c):
//   - `standby.signal`: standby mode. A "not found" from restore_command never ends recovery
//     by itself there; the startup process tries pg_wal, then streaming (if primary_conninfo
//     is set), sleeps wal_retrieve_retry_interval, and asks again.
//   - `promote`: written by `pg_ctl promote` and pg_promote() before they signal the server.
//     The startup process notices it only after a source fails (CheckForStandbyTrigger, right
//     after restore_command and pg_wal both came up empty), deletes it, and ends recovery. So
//     while it exists, the next "not found" ends recovery.
//   - primary_conninfo: whether the standby has another source. `postgres -C` reads it from
//     the same configuration files the server reads (12 ms, as the server's owner).
//   - postmaster.pid: which server run this is (pid and start time).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { pgProgram } from './binaries.js';
import { readMajorVersion } from './control-file.js';
import { runningServer } from './postmaster-pid.js';

export const PROMOTE_SIGNAL_FILE = 'promote';

export function isStandby(dataDir: string): boolean {
  return existsSync(join(dataDir, 'standby.signal'));
}

/** A promotion has been asked for and the startup process has not acted on it yet. */
export function promotionPending(dataDir: string): boolean {
  return existsSync(join(dataDir, PROMOTE_SIGNAL_FILE));
}

/**
 * Whether the server streams from a primary (primary_conninfo set), by the configuration files;
 * null when that cannot be told (no postgres program, run as root, an unreadable file).
 */
export function streamsFromPrimary(dataDir: string): boolean | null {
  const res = spawnSync(pgProgram('postgres', readMajorVersion(dataDir) ?? undefined), ['-C', 'primary_conninfo', '-D', dataDir], {
    encoding: 'utf8',
    timeout: 10_000,
  });
  if (res.status !== 0) return null;
  return res.stdout.trim() !== '';
}

/** The running server's pid and start time, or null when none runs. */
export function serverRun(dataDir: string): string | null {
  const server = runningServer(dataDir);
  return server?.startTime ? `${server.pid} ${server.startTime}` : null;
}
