// What the database says about its own archiving, for `pitr status`: pg_stat_archiver (the
// last success and the last failure) and the `.ready` files waiting in
// pg_wal/archive_status (the backlog). Read when the database is reachable; when it is not,
// status says so and judges archiving by the repository alone.
import type { Config } from '../config/config.js';
import type { Client } from 'pg';
import { connectWithin, serverConnection } from '../pg/connection.js';

export interface ArchiverState {
  archivedCount: number;
  lastArchivedWal: string | null;
  lastArchivedTime: string | null;
  failedCount: number;
  lastFailedWal: string | null;
  lastFailedTime: string | null;
}

export interface ArchiveBacklog {
  /** `.ready` files: segments PostgreSQL has finished and not yet archived. */
  ready: number;
  oldest: string | null;
  /** Seconds since the oldest one was completed (its `.ready` file's modification time). */
  oldestAgeSeconds: number | null;
}

export type DatabaseFacts =
  | {
      reachable: true;
      systemIdentifier: string;
      archiveMode: string;
      archiveCommand: string;
      archiver: ArchiverState;
      /** null with backlogError when the backlog could not be read (a role without pg_monitor). */
      backlog: ArchiveBacklog | null;
      backlogError?: string;
    }
  | { reachable: false; error: string };

const CONNECT_TIMEOUT_MS = 10_000;

interface ArchiverRow {
  sysid: string;
  archive_mode: string;
  archive_command: string;
  archived_count: string;
  last_archived_wal: string | null;
  last_archived_time: Date | null;
  failed_count: string;
  last_failed_wal: string | null;
  last_failed_time: Date | null;
}

export async function readDatabaseFacts(config: Pick<Config, 'dbUrl' | 'pgdata'>): Promise<DatabaseFacts> {
  let client: Client;
  try {
    // A server that takes the connection and then never answers must not hold status (or the
    // agent's health watch) forever: each query is bounded too.
    client = await connectWithin(serverConnection(config), CONNECT_TIMEOUT_MS, { queryTimeoutMs: CONNECT_TIMEOUT_MS });
  } catch (err) {
    return { reachable: false, error: (err as Error).message || String(err) };
  }
  try {
    const { rows } = await client.query<ArchiverRow>(
      `SELECT (SELECT system_identifier FROM pg_control_system())::text AS sysid,
              current_setting('archive_mode') AS archive_mode, current_setting('archive_command') AS archive_command,
              archived_count::text, last_archived_wal, last_archived_time,
              failed_count::text, last_failed_wal, last_failed_time
         FROM pg_stat_archiver`,
    );
    const r = rows[0]!;
    const facts: DatabaseFacts = {
      reachable: true,
      systemIdentifier: r.sysid,
      archiveMode: r.archive_mode,
      archiveCommand: r.archive_command,
      archiver: {
        archivedCount: Number(r.archived_count),
        lastArchivedWal: r.last_archived_wal,
        lastArchivedTime: r.last_archived_time?.toISOString() ?? null,
        failedCount: Number(r.failed_count),
        lastFailedWal: r.last_failed_wal,
        lastFailedTime: r.last_failed_time?.toISOString() ?? null,
      },
      backlog: null,
    };
    try {
      const backlog = await client.query<{ ready: string; oldest: string | null; age: string | null }>(
        `SELECT count(*)::text AS ready, min(left(name, 24)) AS oldest,
                extract(epoch FROM now() - min(modification))::text AS age
           FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'`,
      );
      const b = backlog.rows[0]!;
      facts.backlog = {
        ready: Number(b.ready),
        oldest: b.oldest,
        oldestAgeSeconds: b.age === null ? null : Math.max(0, Math.round(Number(b.age))),
      };
    } catch (err) {
      facts.backlogError = `${(err as Error).message}: grant the role pg_monitor to read pg_wal/archive_status`;
    }
    return facts;
  } catch (err) {
    return { reachable: false, error: (err as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}
