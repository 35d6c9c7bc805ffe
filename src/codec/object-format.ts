// The envelope of every WAL object: a metadata header, then the (compressed) payload. Two forms:
//
// In the clear:
//   header  = LZ4 skippable frame: u32le magic 0x184D2A5E, u32le length, `length` bytes of JSON
//   payload = one LZ4 frame (compression "lz4") or the original bytes ("none")
// A skippable frame is part of the LZ4 frame format: `lz4 -d object out` ignores it and
// decodes the payload, so objects stay readable without pitr.
//
// Encrypted (encryption "age"): the object is one age file (codec/age.ts)
//   header  = the age header: a stanza per recipient, and a "pitr-object" stanza whose body is
//             the same JSON, readable without a key (age ignores stanza types it does not know)
//   payload = the age payload (nonce and sealed chunks) of the compressed original
// so `age -d -i key.txt object | lz4 -d` gives back the original.
//
// Keeping the metadata inside the object (rather than in S3 user metadata or a sidecar file)
// makes the object and its checksum one atomic write on every store.
import { createHash } from 'node:crypto';
import { IntegrityError } from '../errors.js';
import * as v from 'valibot';
import type { ObjectHead } from '../storage/storage.js';
import { looksLikeAge, parseAgeHeader } from './age-header.js';
import { byteCount, checkDocument, sha256Hex } from './json-document.js';

const SKIPPABLE_MAGIC = 0x184d2a5e;
const PREFIX = 8;
/**
 * Enough to read any header in the clear, and an encrypted object's with a few recipients,
 * with one ranged read; readers read up to MAX_SEALED_HEADER_BYTES when an age header is
 * longer (repository/object-head.ts).
 */
export const MAX_HEADER_BYTES = 4096;
/**
 * The longest header of an encrypted object: many recipients, or a long timeline history's
 * clear copy (age's own reference implementation reads stanzas up to 1 MiB).
 */
export const MAX_SEALED_HEADER_BYTES = 1 << 20;
/** The type of the age stanza that holds an encrypted object's metadata. */
export const META_STANZA = 'pitr-object';

const transactionEnd = v.object({
  time: v.pipe(v.string(), v.regex(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/)),
  lsn: v.pipe(v.string(), v.regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/)),
});

const objectMetaSchema = v.pipe(
  v.object({
    /** Envelope format version. */
    v: v.literal(1),
    /** The original file name (WAL segment, .history, .backup, .partial). */
    name: v.string(),
    /** Size in bytes of the original file. */
    size: byteCount,
    /**
     * SHA-256 (hex) of the original file. Written only where it costs nothing (no compression:
     * the payload is the original) and by pitr before 2026-12-01; objects carry `payloadSha256`
     * instead, which with the decompressed size verifies a read. Hashing the original would
     * cost the archiver ~8 ms of its ~24 per 16 MiB segment.
     */
    sha256: v.optional(sha256Hex),
    /** 'lz4' or 'none'; another name (a newer pitr's) is refused when decoding, with the advice to upgrade. */
    compression: v.string(),
    /**
     * Bytes of payload after the header. With it, an object that is shorter than promised is
     * recognisable as a cut-off write: some S3-compatible stores (s3rver among them) keep the
     * part of an upload that arrived before the client died.
     */
    payloadSize: byteCount,
    /**
     * SHA-256 (hex) of the payload as stored. Reading checks it and the decompressed size
     * instead of hashing the 16 MiB original again: ~1 ms instead of ~8 per segment, which
     * during recovery is CPU taken from replay. Objects written before it was added lack it,
     * and are checked against `sha256`; every object has one of the two.
     */
    payloadSha256: v.optional(sha256Hex),
    /**
     * Segments: the first and last commit/abort record in it, with time and LSN
     * (wal/transaction-ends.ts); {} for none. What the restorable window ends at: a time target
     * is reachable only up to the last transaction end archived. In the header, so a host with
     * only a public key can read it, and it is one write with the segment. Absent in segments
     * stored before pitr recorded it (the window then ends at their archive time).
     */
    transactionEnds: v.optional(v.object({ first: v.optional(transactionEnd), last: v.optional(transactionEnd) })),
    /**
     * 'age': the payload is encrypted (the object is an age file); absent: in the clear. Set in
     * the encrypted form's header only, and required there.
     */
    encryption: v.optional(v.literal('age')),
    /**
     * Encrypted objects: SHA-256 of the payload before encryption (the compressed original).
     * A pusher holds no key to read an archived copy back: with it, a file pushed again is
     * recognised as the one stored (the same bytes compress the same), at the cost of hashing
     * the compressed copy (~1 ms a segment) rather than the 16 MiB original (~8 ms).
     */
    compressedSha256: v.optional(sha256Hex),
    /**
     * Encrypted timeline history and backup history files: their bytes, base64, in the clear,
     * checked by `sha256`. They hold only timeline numbers, LSNs, times and labels (in the
     * database's encoding: base64 keeps any byte), and every host needs them without a key:
     * list and status follow timelines, backup reads its .backup file.
     */
    clear: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9+/]*={0,2}$/, 'not base64'))),
  }),
  v.check((meta) => meta.sha256 !== undefined || meta.payloadSha256 !== undefined, 'no checksum (sha256 or payloadSha256)'),
);

export type ObjectMeta = v.InferOutput<typeof objectMetaSchema>;

export function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

/**
 * The object: header, then payload. With `room` free bytes of the payload's own memory right
 * before it (codec/compression.ts), the header goes there and the payload is not copied.
 */
export function encodeObject(meta: ObjectMeta, payload: Buffer, room = 0): Buffer {
  const json = Buffer.from(JSON.stringify(meta), 'utf8');
  const headerLength = PREFIX + json.length;
  if (headerLength > MAX_HEADER_BYTES) throw new RangeError(`object header of ${headerLength} bytes exceeds ${MAX_HEADER_BYTES}`);
  const object =
    room >= headerLength
      ? Buffer.from(payload.buffer, payload.byteOffset - headerLength, headerLength + payload.length)
      : Buffer.allocUnsafe(headerLength + payload.length);
  object.writeUInt32LE(SKIPPABLE_MAGIC, 0);
  object.writeUInt32LE(json.length, 4);
  json.copy(object, PREFIX);
  if (room < headerLength) payload.copy(object, headerLength);
  return object;
}

/**
 * The encrypted form: the age header of `header` and `body` with `meta` in its stanza, placed
 * in the `room` free bytes before `body` when they suffice (no copy).
 */
export function encodeSealedObject(header: Buffer, body: Buffer, room = 0): Buffer {
  if (header.length > MAX_SEALED_HEADER_BYTES)
    throw new RangeError(`encrypted object header of ${header.length} bytes exceeds ${MAX_SEALED_HEADER_BYTES}`);
  if (room < header.length) return Buffer.concat([header, body]);
  const object = Buffer.from(body.buffer, body.byteOffset - header.length, header.length + body.length);
  header.copy(object, 0);
  return object;
}

/**
 * Where the header at the start of `bytes` ends: 'incomplete' when they end inside it (a
 * longer read, or a cut-off write); IntegrityError naming `what` when it is no pitr header.
 */
export function headerLength(bytes: Buffer, what: string): number | 'incomplete' {
  if (looksLikeAge(bytes)) {
    const parsed = parseAgeHeader(bytes);
    if (parsed === 'not-age') throw new IntegrityError(`${what} is corrupted: its age header does not parse`);
    return parsed === 'incomplete' ? parsed : parsed.length;
  }
  const magic = Buffer.alloc(4);
  magic.writeUInt32LE(SKIPPABLE_MAGIC, 0);
  if (!bytes.subarray(0, 4).equals(magic.subarray(0, Math.min(4, bytes.length))))
    throw new IntegrityError(`${what} is corrupted or not a pitr object: bad header magic`);
  if (bytes.length < PREFIX) return 'incomplete';
  const length = bytes.readUInt32LE(4);
  if (length > MAX_HEADER_BYTES - PREFIX) throw new IntegrityError(`${what} is corrupted: header length ${length} out of range`);
  return bytes.length < PREFIX + length ? 'incomplete' : PREFIX + length;
}

/** Parses the header from the first bytes of an object (at least the whole header). */
export function decodeHeader(head: Buffer, what: string): { meta: ObjectMeta; headerLength: number } {
  const length = headerLength(head, what);
  if (length === 'incomplete') throw new IntegrityError(`${what} is corrupted: it ends inside its header`);
  const sealed = looksLikeAge(head);
  let json: Buffer;
  if (sealed) {
    const { stanzas } = parseAgeHeader(head) as Exclude<ReturnType<typeof parseAgeHeader>, string>;
    const stanza = stanzas.find((st) => st.args[0] === META_STANZA);
    if (!stanza) throw new IntegrityError(`${what} is an age file without pitr's metadata: it was not archived by pitr`);
    json = stanza.body;
  } else {
    json = head.subarray(PREFIX, length);
  }
  let value: unknown;
  try {
    value = JSON.parse(json.toString('utf8'));
  } catch {
    throw new IntegrityError(`${what} is corrupted: header is not valid JSON`);
  }
  const version = (value as { v?: unknown } | null)?.v;
  if (version !== 1)
    throw new IntegrityError(`${what} has an unknown header (format ${String(version)}): upgrade pitr or check the object`);
  const meta = checkDocument(value, objectMetaSchema, { what: `${what}'s header`, fix: 'check the object, or push the file again' });
  if (sealed !== (meta.encryption === 'age'))
    throw new IntegrityError(`${what} is corrupted: its header says it is ${sealed ? 'not ' : ''}encrypted, and its form says otherwise`);
  return { meta, headerLength: length };
}

/**
 * No whole object is shorter: the shortest header there can be (a history file's name, the
 * shortest values, the shorter checksum key) and an empty payload. A listed size below it
 * shows a cut-off write without reading the object.
 */
export const MIN_OBJECT_BYTES =
  PREFIX +
  Buffer.byteLength(
    JSON.stringify({
      v: 1,
      name: '00000002.history',
      size: 0,
      compression: 'lz4',
      payloadSize: 0,
      sha256: '0'.repeat(64),
    } satisfies ObjectMeta),
  );

/** `expected`: the whole object's size, when the header is there to tell it. */
export type StoredState = { state: 'complete'; meta: ObjectMeta } | { state: 'incomplete'; meta?: ObjectMeta; expected?: number };

/**
 * Classifies an existing object from its first bytes and total size: complete, or the
 * remains of a write that was cut off (a prefix of a pitr object). Anything else (another
 * program's object, a damaged header) is an IntegrityError: pitr never replaces what it
 * cannot recognise.
 */
export function inspectStoredObject(head: ObjectHead, what: string): StoredState {
  const { bytes } = head;
  if (headerLength(bytes, what) === 'incomplete') {
    if (head.size === bytes.length) return { state: 'incomplete' }; // the object ends inside its own header
    throw new IntegrityError(`${what} is corrupted: its header is longer than ${bytes.length} bytes`);
  }
  const { meta, headerLength: length } = decodeHeader(bytes, what);
  const expected = length + meta.payloadSize;
  if (head.size < expected) return { state: 'incomplete', meta, expected };
  if (head.size > expected) throw new IntegrityError(`${what} is corrupted: ${head.size} bytes stored, ${expected} expected`);
  return { state: 'complete', meta };
}
