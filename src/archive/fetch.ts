// Restores one archived file for PostgreSQL's restore_command. The bytes are verified
// (SHA-256 of the stored bytes, then decryption, which authenticates every chunk, and the
// decompressed size) before they appear at the destination, and they appear by rename, so
// PostgreSQL never sees a partial or wrong file.
import { replaceFile } from '../os/exclusive-temp.js';
import { InputError, RepositoryMismatchError, StorageUnavailableError } from '../errors.js';
import { IDENTITY_KEY } from '../repository/layout.js';
import { readSystemIdentifier } from '../pg/control-file.js';
import type { Storage } from '../storage/storage.js';
import { getArchivedObject, openArchivedObject } from '../repository/archived-file.js';
import type { BufferPool } from '../os/buffer-pool.js';
import type { KeySource } from '../codec/pipeline.js';
import { parseWalFileName } from '../wal/names.js';
import { readSegmentHeader } from '../wal/segment-header.js';

export interface FetchOptions {
  storage: Storage;
  /** The recovering cluster's data directory (restore_command runs there). */
  dataDir: string;
  /** fsync before the rename: for files kept across calls (the prefetch spool). */
  durable?: boolean;
  /** The recovering cluster's system identifier, when a long-lived caller has read it once. */
  systemIdentifier?: string | null;
  /** Buffers to decode into, for a caller that fetches many files (the prefetcher). */
  pool?: BufferPool;
  /** The identities to decrypt with (PITR_ENCRYPT_IDENTITY_FILE), read at the first encrypted object. */
  keys?: KeySource;
}

export type FetchResult = { status: 'not-found'; name: string } | { status: 'restored'; name: string; size: number; checksum: string };

export async function fetchWalFile(name: string, dest: string, opts: FetchOptions): Promise<FetchResult> {
  const object = await getArchivedObject(opts.storage, name);
  if (object === null) {
    await assertRepositoryThere(opts.storage);
    return { status: 'not-found', name };
  }
  const file = parseWalFileName(name)!;
  const segment = file.kind === 'segment' || file.kind === 'partial';
  const local = !segment ? null : opts.systemIdentifier !== undefined ? opts.systemIdentifier : await readSystemIdentifier(opts.dataDir);

  const { data, checksum, pooled } = await openArchivedObject(object, opts.keys, opts.pool);
  try {
    // A segment of another cluster would make PostgreSQL end recovery early ("WAL file is
    // from a different database system"), silently short of data: refuse it loudly instead.
    if (segment) {
      const remote = readSegmentHeader(data, object.what).systemIdentifier;
      if (local !== null && local !== remote) {
        throw new RepositoryMismatchError(
          `${object.what} is from cluster ${remote} but ${opts.dataDir} is cluster ${local}: point PITR_REPO at this cluster's repository`,
        );
      }
    }
    writeAtomically(dest, data, opts.durable ?? false);
    return { status: 'restored', name, size: data.length, checksum };
  } finally {
    if (pooled) opts.pool?.give(data);
  }
}

/**
 * "Not found" ends recovery, so it must come from the repository itself: a mount point left
 * empty by an unmounted volume, a wrong prefix, or a bucket emptied, holds no identity, and
 * says nothing about which files are archived. One more small read, on this path only.
 */
async function assertRepositoryThere(storage: Storage): Promise<void> {
  if ((await storage.getHead(IDENTITY_KEY, 1)) !== null) return;
  throw new StorageUnavailableError(
    `${storage.url} holds no pitr repository (no ${IDENTITY_KEY}), so it cannot tell which files are archived: ` +
      'if its volume is not mounted, or PITR_REPO names the wrong bucket or prefix, fix that; recovery waits or stops instead of ending early',
  );
}

/**
 * Temp file + rename in the destination directory. No fsync: PostgreSQL fsyncs the files it
 * keeps (durable_rename of restored segments), and after a crash it fetches again. The
 * temporary file is created exclusively under a random name (os/exclusive-temp.ts): the
 * directory is PostgreSQL's, and restore_command may run as root.
 */
function writeAtomically(dest: string, data: Buffer, durable: boolean): void {
  // Synchronous: one write(2) instead of 32 thread-pool round trips for a 16 MiB segment
  // (the prefetcher runs beside replay; see storage/file.ts).
  try {
    replaceFile(dest, data, { stem: `${dest}.pitr-${process.pid}`, durable });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? 'no space left on device' : code === 'ENOENT' ? 'its directory does not exist' : (code ?? String(err));
    throw new InputError(`cannot write ${dest} (${why})`, err);
  }
}
