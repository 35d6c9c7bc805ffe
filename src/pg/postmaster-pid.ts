// The one reader of a data directory's postmaster.pid, which a running server keeps there
// (PostgreSQL's src/include/utils/pidfile.h): line 1 the postmaster's pid, 3 its start time,
// 4 its port, 5 its first Unix socket directory (empty without one), 6 its first listen
// address ("*" for all). Read synchronously: restore_command asks it (standby.ts).
import { join } from 'node:path';
import { processAlive } from '../os/process.js';
import { readTextQuietly } from '../os/quiet-fs.js';

export interface PostmasterPid {
  pid: number;
  /** Seconds since the epoch, as the file has it: with the pid, it names one run of the server. */
  startTime: string;
  port: number | null;
  socketDir: string;
  listenAddress: string;
}

export interface ServerAddress {
  /** A Unix socket directory (an absolute path) or a host name or address. */
  host: string;
  port: number;
}

/** The file's fields, or null when there is none (no server runs, or one stopped cleanly). */
export function readPostmasterPid(dataDir: string): PostmasterPid | null {
  const lines = readTextQuietly(join(dataDir, 'postmaster.pid')).split('\n');
  const pid = Number(lines[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const port = Number(lines[3]);
  return {
    pid,
    startTime: lines[2] ?? '',
    port: Number.isInteger(port) && port > 0 ? port : null,
    socketDir: lines[4]?.trim() ?? '',
    listenAddress: lines[5]?.trim() ?? '',
  };
}

/** postmaster.pid's fields while the process it names lives, else null (a file a crash left). */
export function runningServer(dataDir: string): PostmasterPid | null {
  const server = readPostmasterPid(dataDir);
  return server && processAlive(server.pid) ? server : null;
}

/**
 * Where the server running in `dataDir` accepts connections, as pg_ctl finds it: its socket
 * directory, else its listen address ("*" meaning this host); null when no server runs there
 * or it listens nowhere it says.
 */
export function serverAddress(dataDir: string): ServerAddress | null {
  const server = runningServer(dataDir);
  if (!server?.port) return null;
  const host = server.socketDir || (server.listenAddress === '*' ? 'localhost' : server.listenAddress);
  return host ? { host, port: server.port } : null;
}
