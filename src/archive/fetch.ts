// Restores one archived file for PostgreSQL's restore_command. The bytes are verified
// (size and SHA-256 of the original) before they appear at the destination, and they appear
// by rename, so PostgreSQL never sees a partial or wrong file.
import { rename, unlink, writeFile } from 'node:fs/promises';
import { decompress } from '../codec/compression.js';
import { decodeHeader, sha256 } from '../codec/object-format.js';
import { InputError, IntegrityError, RepositoryMismatchError } from '../errors.js';
import { readSystemIdentifier } from '../pg/control-file.js';
import { walObjectKey } from '../repository/layout.js';
import type { Storage } from '../storage/storage.js';
import { parseWalFileName } from '../wal/names.js';
import { readSegmentHeader } from '../wal/segment-header.js';

export interface FetchOptions {
  storage: Storage;
  /** The recovering cluster's data directory (restore_command runs there). */
  dataDir: string;
}

export type FetchResult = { status: 'not-found'; name: string } | { status: 'restored'; name: string; size: number; storedBytes: number };

export async function fetchWalFile(name: string, dest: string, opts: FetchOptions): Promise<FetchResult> {
  const file = parseWalFileName(name);
  // PostgreSQL only asks for names it archives; anything else cannot be in the repository.
  if (!file) return { status: 'not-found', name };
  const { storage } = opts;
  const object = await storage.get(walObjectKey(file));
  if (object === null) return { status: 'not-found', name };

  const what = `archived ${name} in ${storage.url}`;
  const { meta, headerLength } = decodeHeader(object, what);
  if (meta.name !== name) throw new IntegrityError(`${what} holds ${meta.name}: the object was copied or renamed by hand`);
  if (object.length !== headerLength + meta.payloadSize) {
    throw new IntegrityError(`${what} is incomplete or damaged: ${object.length} bytes stored, ${headerLength + meta.payloadSize} expected; push it again from pg_wal if it is still there`);
  }
  const data = await decompress(meta.compression, object.subarray(headerLength), what);
  if (data.length !== meta.size || sha256(data) !== meta.sha256) {
    throw new IntegrityError(`${what} is corrupted: its content does not match the SHA-256 recorded when it was archived; run "pitr verify"`);
  }

  // A segment of another cluster would make PostgreSQL end recovery early ("WAL file is from
  // a different database system"), silently short of data: refuse it loudly instead.
  if (file.kind === 'segment' || file.kind === 'partial') {
    const local = await readSystemIdentifier(opts.dataDir);
    const remote = readSegmentHeader(data, what).systemIdentifier;
    if (local !== null && local !== remote) {
      throw new RepositoryMismatchError(
        `${what} is from cluster ${remote} but ${opts.dataDir} is cluster ${local}: point PITR_REPO at this cluster's repository`,
      );
    }
  }

  await writeAtomically(dest, data);
  return { status: 'restored', name, size: data.length, storedBytes: object.length };
}

/**
 * Temp file + rename in the destination directory. No fsync: PostgreSQL fsyncs the files it
 * keeps (durable_rename of restored segments), and after a crash it fetches again.
 */
async function writeAtomically(dest: string, data: Buffer): Promise<void> {
  const tmp = `${dest}.pitr-${process.pid}.tmp`;
  try {
    await writeFile(tmp, data, { mode: 0o600 });
    await rename(tmp, dest);
  } catch (err) {
    await unlink(tmp).catch(() => undefined);
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOSPC' ? 'no space left on device' : code === 'ENOENT' ? 'its directory does not exist' : (code ?? String(err));
    throw new InputError(`cannot write ${dest} (${why})`, err);
  }
}
