// Finds the identity (system identifier, version, WAL segment size) of the cluster pitr
// serves, from the data directory or from a database connection: the one place either is
// asked. Used by `pitr init`, by `pitr backup` (whose query adds its own columns to these), and
// to bind an empty repository when the first archived file is not a segment.
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { InputError } from '../errors.js';
import type { ClusterIdentity } from '../repository/identity.js';
import { newClient, type DbConnection } from './connection.js';
import { readMajorVersion, readSystemIdentifier } from './control-file.js';

/** From a data directory: pg_control for the system identifier, pg_wal for the segment size. */
export async function identityFromDataDir(dataDir: string): Promise<ClusterIdentity> {
  const systemIdentifier = await readSystemIdentifier(dataDir);
  const pgVersion = readMajorVersion(dataDir);
  if (systemIdentifier === null || pgVersion === null) {
    throw new InputError(`${dataDir} is not a readable PostgreSQL data directory: set PGDATA (--pgdata) to the cluster's data directory`);
  }
  // Every segment file in pg_wal has the cluster's segment size (fixed at initdb).
  const walDir = join(dataDir, 'pg_wal');
  const names = await readdir(walDir).catch(() => [] as string[]);
  for (const name of names) {
    if (/^[0-9A-F]{24}$/.test(name)) {
      const { size } = await stat(join(walDir, name));
      return { systemIdentifier, pgVersion, walSegmentSize: size };
    }
  }
  throw new InputError(`no WAL segment found in ${walDir} to learn the segment size from`);
}

/** The select-list that asks a server for its identity; read the row with identityFromRow. */
export const IDENTITY_COLUMNS = `(SELECT system_identifier FROM pg_control_system())::text AS sysid,
       current_setting('server_version_num') AS version,
       (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS segsize`;

export interface IdentityRow {
  sysid: string;
  version: string;
  segsize: string;
}

export function identityFromRow(row: IdentityRow): ClusterIdentity {
  return {
    systemIdentifier: row.sysid,
    pgVersion: Math.floor(Number(row.version) / 10000),
    walSegmentSize: Number(row.segsize),
  };
}

/** From a live server. */
export async function identityFromDatabase(connection: DbConnection): Promise<ClusterIdentity> {
  const client = await newClient(connection);
  try {
    await client.connect();
    const { rows } = await client.query<IdentityRow>(`SELECT ${IDENTITY_COLUMNS}`);
    return identityFromRow(rows[0]!);
  } catch (err) {
    throw new InputError(
      `cannot read the cluster identity from the database (${(err as Error).message}): set PGHOST/PGPORT/PGUSER or --db-url, or set PGDATA`,
      err,
    );
  } finally {
    await client.end().catch(() => undefined);
  }
}
