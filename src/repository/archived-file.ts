// Reads one archived file back and verifies it: header, completeness, SHA-256 of the stored
// payload (or of the original bytes, for objects written before payloads had one),
// decryption, decompression and size. Shared by wal-fetch and by everything else that reads
// archived files (backup reads the .backup file it waits for, list the timeline histories:
// from their clear text when encrypted, so without a key).
import { decodeHeader } from '../codec/object-format.js';
import { openObject, type KeySource, type StoredObject } from '../codec/pipeline.js';
import { IntegrityError } from '../errors.js';
import type { BufferPool } from '../os/buffer-pool.js';
import { walObjectKey } from './layout.js';
import type { Storage } from '../storage/storage.js';
import { parseWalFileName } from '../wal/names.js';

/**
 * The verified original bytes, or null when the file is not archived. An encrypted segment
 * needs `keys`; a timeline or backup history file is read from its clear text without them.
 */
export async function readArchivedFile(storage: Storage, name: string, keys?: KeySource): Promise<Buffer | null> {
  const object = await getArchivedObject(storage, name);
  return object === null ? null : (await openArchivedObject(object, keys)).data;
}

export interface OpenedObject {
  data: Buffer;
  checksum: string;
  /** Whether `data` was taken from the caller's pool, to be given back. */
  pooled: boolean;
}

/** Fetches an object and checks its header and length; null when the file is not archived. */
export async function getArchivedObject(storage: Storage, name: string): Promise<StoredObject | null> {
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
  return { what, meta, header: object.subarray(0, headerLength), payload: object.subarray(headerLength) };
}

/**
 * Verifies and decodes an object (decrypting it with `keys`), into a buffer from `pool` when
 * given (`pooled`: for the caller to give back; an object stored as it is is returned as it is).
 * The stored bytes are checked before they are decoded (codec/pipeline.ts).
 */
export async function openArchivedObject(object: StoredObject, keys?: KeySource, pool?: BufferPool): Promise<OpenedObject> {
  const { what, meta } = object;
  const corrupted = () =>
    new IntegrityError(
      `${what} is corrupted: its content does not match the SHA-256 recorded when it was archived; ` +
        'restore the object from another copy of the repository, or remove it and push the file again if it is still in pg_wal',
    );
  const { data, pooled } = await openObject(object, corrupted, keys, pool);
  return { data, checksum: meta.payloadSha256 ?? meta.sha256!, pooled };
}
