// Reads one archived file back and verifies it: header, completeness, SHA-256 of the stored
// payload (or of the original bytes, for objects written before payloads had one),
// decompression and size. Shared by wal-fetch and by everything else that reads
// archived files (backup reads the .backup file it waits for).
import { decodeHeader, type ObjectMeta } from '../codec/object-format.js';
import { openBuffer } from '../codec/pipeline.js';
import { IntegrityError } from '../errors.js';
import type { BufferPool } from '../os/buffer-pool.js';
import { walObjectKey } from './layout.js';
import type { Storage } from '../storage/storage.js';
import { parseWalFileName } from '../wal/names.js';

/** The verified original bytes, or null when the file is not archived. */
export async function readArchivedFile(storage: Storage, name: string): Promise<Buffer | null> {
  return (await readArchivedObject(storage, name))?.data ?? null;
}

/** The verified original bytes and the object's checksum (of its payload, or for older objects of the original), or null. */
export async function readArchivedObject(storage: Storage, name: string): Promise<OpenedObject | null> {
  const object = await getArchivedObject(storage, name);
  return object === null ? null : openArchivedObject(object);
}

/** A stored object whose header has been read and whose length matches it; not yet verified. */
export interface ArchivedObject {
  what: string;
  meta: ObjectMeta;
  payload: Buffer;
}

export interface OpenedObject {
  data: Buffer;
  checksum: string;
  /** Whether `data` was taken from the caller's pool, to be given back. */
  pooled: boolean;
}

/** Fetches an object and checks its header and length; null when the file is not archived. */
export async function getArchivedObject(storage: Storage, name: string): Promise<ArchivedObject | null> {
  const file = parseWalFileName(name);
  // Only names PostgreSQL archives can be in the repository.
  if (!file) return null;
  const object = await storage.get(walObjectKey(file));
  if (object === null) return null;

  const what = `archived ${name} in ${storage.url}`;
  const { meta, headerLength } = decodeHeader(object, what);
  if (meta.name !== name) throw new IntegrityError(`${what} holds ${meta.name}: the object was copied or renamed by hand`);
  if (object.length !== headerLength + meta.payloadSize) {
    throw new IntegrityError(
      `${what} is incomplete or damaged: ${object.length} bytes stored, ${headerLength + meta.payloadSize} expected; push it again from pg_wal if it is still there`,
    );
  }
  return { what, meta, payload: object.subarray(headerLength) };
}

/**
 * Verifies and decodes an object, into a buffer from `pool` when given (`pooled`: for the
 * caller to give back; an object stored uncompressed is returned as it is).
 * The stored bytes are checked before they are decoded; the original is then checked by its
 * size only (see ObjectMeta.payloadSha256), or by its own SHA-256 for older objects.
 */
export function openArchivedObject({ what, meta, payload }: ArchivedObject, pool?: BufferPool): OpenedObject {
  const corrupted = () =>
    new IntegrityError(
      `${what} is corrupted: its content does not match the SHA-256 recorded when it was archived; ` +
        'restore the object from another copy of the repository, or remove it and push the file again if it is still in pg_wal',
    );
  const check = { compression: meta.compression, size: meta.size, storedSha256: meta.payloadSha256, originalSha256: meta.sha256 };
  const { data, pooled } = openBuffer(payload, check, what, corrupted, pool);
  return { data, checksum: meta.payloadSha256 ?? meta.sha256!, pooled };
}
