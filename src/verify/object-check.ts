// The per-object worker of `pitr verify`: reads one stored object as a stream and checks it
// against what was recorded when it was stored, without any key. Checksums are over the
// bytes as stored (codec/pipeline.ts), so nothing is decrypted or decompressed, except an
// older WAL object that carries only the original's SHA-256: that one is decoded (it is
// one WAL file, a segment at most) and checked as wal-fetch checks it.
//
// Memory: a stream's chunks pass through a hash and are dropped; only the header (at most
// MAX_SEALED_HEADER_BYTES) is held, and the payload of an older object.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import {
  decodeHeader,
  headerLength as headerEnd,
  inspectStoredObject,
  MAX_HEADER_BYTES,
  MAX_SEALED_HEADER_BYTES,
  type ObjectMeta,
} from '../codec/object-format.js';
import { openObject } from '../codec/pipeline.js';
import { IntegrityError, PitrError, StorageUnavailableError } from '../errors.js';
import type { BackupFile } from '../repository/backups.js';
import type { Storage } from '../storage/storage.js';

/**
 * What is wrong with one stored object. 'missing': listed or recorded, but not there;
 * 'incomplete': shorter than recorded (cut off, truncated); 'damaged': its bytes, header or
 * size differ from what was recorded.
 */
export interface ObjectProblem {
  state: 'missing' | 'incomplete' | 'damaged';
  key: string;
  message: string;
}

/** Reads `key` (a WAL object holding `name`) whole and checks header, size and checksum; null when it is sound. */
export async function checkWalObject(
  storage: Storage,
  key: string,
  name: string,
  onBytes: (n: number) => void,
): Promise<ObjectProblem | null> {
  const what = `${storage.url}${key}`;
  const problem = (state: ObjectProblem['state'], message: string): ObjectProblem => ({ state, key, message });
  const stream = await storage.getStream(key);
  if (stream === null) return problem('missing', `${what} is missing: it was removed since it was listed`);

  const head: Buffer[] = [];
  let headBytes = 0;
  let header: { meta: ObjectMeta; headerLength: number } | null = null;
  let payloadBytes = 0;
  const hash = createHash('sha256');
  /** The payload, kept only for an object without payloadSha256 (decoded at the end). */
  let kept: Buffer[] | null = null;
  let headerError: IntegrityError | null = null;

  const takePayload = (chunk: Buffer) => {
    payloadBytes += chunk.length;
    hash.update(chunk);
    if (kept && payloadBytes <= header!.meta.payloadSize) kept.push(chunk);
    else kept = null; // longer than recorded: damaged whatever it holds
  };
  /** Whether the bytes so far hold the whole header (an age header may be longer than MAX_HEADER_BYTES), or no pitr header at all. */
  const headerComplete = (): boolean => {
    try {
      return headerEnd(Buffer.concat(head), what) !== 'incomplete' || headBytes > MAX_SEALED_HEADER_BYTES;
    } catch {
      return true; // readHeader names it
    }
  };
  const readHeader = (): boolean => {
    const buffered = Buffer.concat(head);
    try {
      header = decodeHeader(buffered, what);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
      headerError = err;
      return false;
    }
    if (header.meta.payloadSha256 === undefined) kept = [];
    takePayload(buffered.subarray(header.headerLength));
    return true;
  };

  try {
    for await (const chunk of stream as AsyncIterable<Buffer>) {
      onBytes(chunk.length);
      if (headerError) continue; // read to the end all the same: progress counts every byte
      if (header) {
        takePayload(chunk);
        continue;
      }
      head.push(chunk);
      headBytes += chunk.length;
      if (headBytes >= MAX_HEADER_BYTES && headerComplete()) readHeader();
    }
  } catch (err) {
    throw streamFailure(err, what);
  }
  if (!header && !headerError && !readHeader()) {
    // The object ended before its header could be read whole: a cut-off write, or not pitr's.
    const bytes = Buffer.concat(head);
    try {
      if (inspectStoredObject({ bytes, size: bytes.length }, what).state === 'incomplete')
        return problem('incomplete', `${what} is cut off: ${bytes.length} bytes stored, less than its header`);
    } catch (err) {
      if (!(err instanceof IntegrityError)) throw err;
    }
  }
  if (headerError) return problem('damaged', (headerError as IntegrityError).message);
  const { meta, headerLength } = header!;
  const expected = headerLength + meta.payloadSize;
  const stored = headerLength + payloadBytes;
  if (meta.name !== name) return problem('damaged', `${what} holds ${meta.name}: the object was copied or renamed by hand`);
  if (stored < expected) return problem('incomplete', `${what} is cut off: ${stored} of ${expected} bytes stored`);
  if (stored > expected) return problem('damaged', `${what} is damaged: ${stored} bytes stored, ${expected} recorded in its header`);
  if (meta.payloadSha256 !== undefined) {
    if (hash.digest('hex') !== meta.payloadSha256)
      return problem('damaged', `${what} is corrupted: the SHA-256 of its stored bytes differs from the one recorded when it was archived`);
    return null;
  }
  // An older object: only the original's checksum, so the payload is decoded and checked as wal-fetch would.
  const mismatch = () => new IntegrityError(`${what} is corrupted: the SHA-256 or size of its content differs from the one recorded`);
  try {
    // Objects without payloadSha256 predate encryption: stored in the clear, no header needed.
    await openObject({ what, meta, header: Buffer.alloc(0), payload: Buffer.concat(kept ?? []) }, mismatch);
  } catch (err) {
    if (err instanceof IntegrityError) return problem('damaged', err.message);
    throw err;
  }
  return null;
}

/** Reads a backup's stored file as a stream and checks its size and SHA-256 against the manifest; null when sound. */
export async function checkBackupFile(storage: Storage, file: BackupFile, onBytes: (n: number) => void): Promise<ObjectProblem | null> {
  const what = `${storage.url}${file.key}`;
  const problem = (state: ObjectProblem['state'], message: string): ObjectProblem => ({ state, key: file.key, message });
  const stream = await storage.getStream(file.key);
  if (stream === null) return problem('missing', `${what} is missing: the backup cannot be restored`);
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of stream as Readable & AsyncIterable<Buffer>) {
      onBytes(chunk.length);
      bytes += chunk.length;
      hash.update(chunk);
    }
  } catch (err) {
    throw streamFailure(err, what);
  }
  if (bytes < file.storedSize)
    return problem('incomplete', `${what} is truncated: ${bytes} of ${file.storedSize} bytes recorded in the manifest are stored`);
  if (bytes > file.storedSize)
    return problem('damaged', `${what} is damaged: ${bytes} bytes stored, ${file.storedSize} recorded in the manifest`);
  if (hash.digest('hex') !== file.storedSha256)
    return problem('damaged', `${what} is corrupted: the SHA-256 of its stored bytes differs from the manifest's`);
  return null;
}

/** A read that failed part-way: the store, not the object (exit 5, not a verify finding). */
function streamFailure(err: unknown, what: string): PitrError {
  if (err instanceof PitrError) return err;
  return new StorageUnavailableError(`reading ${what} failed part-way: ${(err as Error).message}; run pitr verify again`, err);
}
