// The one reader of a data directory's global/pg_control (and PG_VERSION beside it): facts
// about a local cluster, read without a database connection. Only fields whose offsets every
// supported PostgreSQL version (9.4 and later) shares are read (src/include/catalog/pg_control.h).
import { existsSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { join } from 'node:path';
import { readTextQuietly } from '../os/quiet-fs.js';

const controlFile = (dataDir: string) => join(dataDir, 'global', 'pg_control');

/** ControlFileData.system_identifier: the first field, a uint64. */
const SYSTEM_IDENTIFIER = { offset: 0, length: 8 } as const;
/** ControlFileData.state (DBState): after system_identifier, pg_control_version and catalog_version_no. */
const STATE = { offset: 16, length: 4 } as const;

/** DBState DB_IN_PRODUCTION: the server runs and accepts writes (recovery, if any, has ended). */
export const DB_IN_PRODUCTION = 6;

/** Whether `dir` is a data directory: it holds pg_control. Synchronous: asked on the WAL commands' hot path. */
export function isDataDir(dir: string): boolean {
  return existsSync(controlFile(dir));
}

/** Bytes of pg_control, or null when the file cannot be read (not a data directory, or no permission). */
async function readControlField(dataDir: string, field: { offset: number; length: number }): Promise<Buffer | null> {
  const fh = await open(controlFile(dataDir), 'r').catch(() => null);
  if (!fh) return null;
  try {
    const buf = Buffer.alloc(field.length);
    const { bytesRead } = await fh.read(buf, 0, field.length, field.offset);
    return bytesRead === field.length ? buf : null;
  } finally {
    await fh.close();
  }
}

/** The system identifier, as decimal text (it exceeds 2^53); null when pg_control cannot be read. */
export async function readSystemIdentifier(dataDir: string): Promise<string | null> {
  const buf = await readControlField(dataDir, SYSTEM_IDENTIFIER);
  return buf && buf.readBigUInt64LE(0).toString();
}

/** The cluster's DBState as pg_control last recorded it; null when pg_control cannot be read. */
export async function readClusterState(dataDir: string): Promise<number | null> {
  const buf = await readControlField(dataDir, STATE);
  return buf && buf.readUInt32LE(0);
}

/** The major version from PG_VERSION, or null. Synchronous: restore_command asks it (standby.ts). */
export function readMajorVersion(dataDir: string): number | null {
  const n = parseInt(readTextQuietly(join(dataDir, 'PG_VERSION')).trim(), 10);
  return Number.isFinite(n) ? n : null;
}
