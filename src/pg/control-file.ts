// Facts about a local data directory, read without a database connection.
import { open, readFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * The system identifier: the first 8 bytes of global/pg_control in every PostgreSQL
 * version. Null when the file cannot be read (not a data directory, or no permission).
 */
export async function readSystemIdentifier(dataDir: string): Promise<string | null> {
  let fh;
  try {
    fh = await open(join(dataDir, 'global', 'pg_control'), 'r');
  } catch {
    return null;
  }
  try {
    const buf = Buffer.alloc(8);
    const { bytesRead } = await fh.read(buf, 0, 8, 0);
    return bytesRead === 8 ? buf.readBigUInt64LE(0).toString() : null;
  } finally {
    await fh.close();
  }
}

/** The major version from PG_VERSION, or null. */
export async function readMajorVersion(dataDir: string): Promise<number | null> {
  try {
    const n = parseInt((await readFile(join(dataDir, 'PG_VERSION'), 'utf8')).trim(), 10);
    return Number.isFinite(n) ? n : null;
  } catch {
    return null;
  }
}
