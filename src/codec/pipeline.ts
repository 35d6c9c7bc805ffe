// The one way bytes become a stored object and come back. Storing passes the original
// through stages in a fixed order:
//
//   compress → encrypt (age, when the repository is encrypted) → measure (size and SHA-256 of the bytes as stored)
//
// and reading runs them backwards: measure and check → decrypt → decompress → check the size.
// The checksum is taken last on the way in, over the bytes as stored, so that whoever checks
// a repository needs no key to read it.
//
// The same pipeline in two shapes: whole buffers (WAL files: synchronous where it counts,
// into pooled buffers, without copies) and streams (base backups: bounded memory; on the way
// in the compression is pg_basebackup's own, client-lz4, and on the way out the lz4 program's,
// both in C on another core). The age package is loaded only when a stage encrypts or
// decrypts: wal-push and wal-fetch of a repository in the clear never load it.
import type { Duplex, Transform } from 'node:stream';
import type { Compression } from '../config/config.js';
import { IntegrityError } from '../errors.js';
import type { BufferPool } from '../os/buffer-pool.js';
import type { TransactionEnds } from '../wal/transaction-ends.js';
import type { AgeIdentities } from './age-identities.js';
import { compress, decompress } from './compression.js';
import { Measure } from './measure.js';
import { encodeObject, encodeSealedObject, MAX_HEADER_BYTES, META_STANZA, sha256, type ObjectMeta } from './object-format.js';

/** How the original is turned into stored bytes: what a reader must undo. */
export interface StoredForm {
  compression: Compression;
  /** Encrypt to these age recipients; absent: stored in the clear. */
  recipients?: readonly string[];
}

/** The identities to decrypt with, loaded when an encrypted object is first met; `needs` names it for the error when none is configured. */
export type KeySource = (needs: string) => Promise<AgeIdentities>;

/** What a WAL object says about the file it holds, besides how it is stored. */
export interface Original {
  name: string;
  transactionEnds?: TransactionEnds;
  /** Keep a copy in the clear beside the encrypted payload (ObjectMeta.clear): timeline and backup history files. */
  clearCopy?: boolean;
}

/** A WAL object ready to store, and its header. */
export interface SealedObject {
  object: Buffer;
  meta: ObjectMeta;
  /** Gives pooled memory back; the object is unusable afterwards. */
  release(): void;
}

/** Turns a whole file into its object (header and stored payload); buffers from `pool` when given. */
export async function sealObject(data: Buffer, original: Original, form: StoredForm, pool?: BufferPool): Promise<SealedObject> {
  const payload = await compress(form.compression, data, pool);
  const giveBack = (b: Buffer) => pool?.give(b);
  const base = {
    v: 1 as const,
    name: original.name,
    size: data.length,
    compression: form.compression,
    ...(original.transactionEnds ? { transactionEnds: original.transactionEnds } : {}),
  };
  if (form.recipients === undefined) {
    const payloadSha256 = sha256(payload.bytes);
    const meta: ObjectMeta = { ...base, payloadSize: payload.bytes.length, payloadSha256 };
    if (payload.bytes === data) meta.sha256 = payloadSha256; // stored as it is: the original's checksum costs nothing
    return {
      object: encodeObject(meta, payload.bytes, payload.room),
      meta,
      release: () => payload.pooled && giveBack(payload.bytes),
    };
  }
  try {
    return await sealEncrypted(data, payload.bytes, base, original, form.recipients, pool);
  } finally {
    if (payload.pooled) giveBack(payload.bytes);
  }
}

async function sealEncrypted(
  data: Buffer,
  compressed: Buffer,
  base: Omit<ObjectMeta, 'payloadSize'>,
  original: Original,
  recipients: readonly string[],
  pool: BufferPool | undefined,
): Promise<SealedObject> {
  const { ageSeal, ageBodySize } = await import('./age.js');
  const size = MAX_HEADER_BYTES + ageBodySize(compressed.length);
  const out = pool ? pool.take(size) : Buffer.allocUnsafeSlow(size);
  let meta: ObjectMeta | null = null;
  try {
    const { header, body } = await ageSeal(compressed, recipients, out.subarray(MAX_HEADER_BYTES), (sealed) => {
      meta = {
        ...base,
        encryption: 'age',
        payloadSize: sealed.length,
        payloadSha256: sha256(sealed),
        compressedSha256: sha256(compressed),
        ...(original.clearCopy ? { clear: data.toString('base64'), sha256: sha256(data) } : {}),
      };
      return { args: [META_STANZA], body: Buffer.from(JSON.stringify(meta)) };
    });
    return { object: encodeSealedObject(header, body, MAX_HEADER_BYTES), meta: meta!, release: () => pool?.give(out) };
  } catch (err) {
    pool?.give(out);
    throw err;
  }
}

/** A stored object whose header has been read and whose length matches it; not yet verified. */
export interface StoredObject {
  /** Names it in errors. */
  what: string;
  meta: ObjectMeta;
  /** The header as stored: an encrypted object's age header, which decryption needs. */
  header: Buffer;
  payload: Buffer;
}

/**
 * Checks a stored object and turns it back into the original, into a buffer from `pool` when
 * given (`pooled`: for the caller to give back; an object stored as it is is returned as it
 * is). The stored bytes are checked before anything is decoded; the original then by its
 * size (or by its own checksum, for older objects). `mismatch` makes the error for bytes that
 * differ. An encrypted object needs `keys`, except a history file's clear copy.
 */
export async function openObject(
  { what, meta, header, payload }: StoredObject,
  mismatch: () => Error,
  keys?: KeySource,
  pool?: BufferPool,
): Promise<{ data: Buffer; pooled: boolean }> {
  if (meta.payloadSha256 !== undefined && sha256(payload) !== meta.payloadSha256) throw mismatch();
  let stored = payload;
  if (meta.encryption === 'age') {
    // A history file's clear copy, when it checks out; a damaged one costs nothing with the identity at hand.
    const copy = clearCopy(meta);
    if (copy && copy.length === meta.size && sha256(copy) === meta.sha256) return { data: copy, pooled: false };
    if (!keys) throw copy ? mismatch() : new IntegrityError(`${what} is encrypted, and this command reads no encrypted objects`);
    const { ageOpen } = await import('./age.js');
    stored = await ageOpen(header, payload, await keys(what), what);
  }
  const data = decompress(meta.compression, stored, meta.size, what, pool);
  const pooled = pool !== undefined && data !== stored; // decompress takes from the pool unless stored uncompressed
  if (data.length !== meta.size || (meta.payloadSha256 === undefined && sha256(data) !== meta.sha256)) {
    if (pooled) pool.give(data);
    throw mismatch();
  }
  return { data, pooled };
}

/**
 * The clear copy of a timeline or backup history file, when its header has one (other files
 * never do: a copy on another file's header is ignored, and its payload decrypted).
 */
function clearCopy(meta: ObjectMeta): Buffer | null {
  if (meta.clear === undefined || !/\.(history|backup)$/.test(meta.name)) return null;
  return Buffer.from(meta.clear, 'base64');
}

/**
 * The stages a stream passes through after its compression (done upstream) on the way into
 * the store; `stored` counts and hashes what is stored, valid once the stream has finished.
 */
export async function sealingStages(form: { recipients?: readonly string[] }): Promise<{ stages: Transform[]; stored: Measure }> {
  const stored = new Measure();
  if (form.recipients === undefined) return { stages: [stored], stored };
  const { AgeEncryptStream } = await import('./age.js');
  return { stages: [new AgeEncryptStream(form.recipients), stored], stored };
}

/**
 * The stages a stored stream passes through on the way out, ending with the original bytes;
 * `stored` counts and hashes the stored bytes (reporting progress), to be compared with the
 * manifest once the stream has finished. A decoder that fails names itself: `lz4`.
 */
export async function openingStages(
  form: { compression: Compression; encryption?: 'age'; what: string },
  keys?: KeySource,
  onProgress?: (bytes: number) => void,
): Promise<{ stages: Duplex[]; stored: Measure }> {
  const stored = new Measure(onProgress);
  // Loaded here, not above: wal-push and wal-fetch load this module, and never run a program.
  const { programStage } = await import('../os/program-stream.js');
  const decrypt: Duplex[] = [];
  if (form.encryption === 'age') {
    if (!keys) throw new IntegrityError(`${form.what} is encrypted, and this command reads no encrypted objects`);
    const { AgeDecryptStream } = await import('./age.js');
    decrypt.push(new AgeDecryptStream(await keys(form.what), form.what));
  }
  const decode = form.compression === 'lz4' ? [programStage('lz4', ['-d', '-c', '-q'])] : [];
  return { stages: [stored, ...decrypt, ...decode], stored };
}
