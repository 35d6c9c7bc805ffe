// Compression codecs for stored objects. lz4 uses the standard LZ4 frame format, so an
// operator can read any object with plain `lz4 -d` in an emergency. Compressing uses the
// system's liblz4 (codec/liblz4.ts: ~3.7 ms per 16 MiB segment) where it loads, else
// lz4-napi (~11.5 ms), both synchronously, which spares the resident archiver a thread-pool
// round trip per file (see storage/file.ts). Decoding uses liblz4 too, into a buffer the
// caller can reuse; lz4-napi's decoder (a new buffer per call) where liblz4 does not load.
import { createRequire } from 'node:module';
import type { Compression } from '../config/config.js';
import { IntegrityError } from '../errors.js';
import type { BufferPool } from '../os/buffer-pool.js';
import { MAX_HEADER_BYTES } from './object-format.js';
import { liblz4, type FrameCodec } from './liblz4.js';

/** A compressed payload, and where it lives. */
export interface Payload {
  bytes: Buffer;
  /**
   * Free bytes right before `bytes`, in memory that is the payload's own: encodeObject writes
   * the header there instead of copying the payload behind it. 0 when there is none.
   */
  room: number;
  /** Whether `bytes` lies in a buffer taken from the caller's pool, to be given back. */
  pooled: boolean;
}

/** Compresses `data`; with liblz4, into a buffer from `pool` when given, header room in front. */
export async function compress(method: Compression, data: Buffer, pool?: BufferPool): Promise<Payload> {
  if (method === 'none') return { bytes: data, room: 0, pooled: false };
  return compressLz4(data, liblz4(), pool);
}

/** LZ4 with liblz4's compressor `c`, or lz4-napi when it is null. */
export async function compressLz4(data: Buffer, c: FrameCodec | null, pool?: BufferPool): Promise<Payload> {
  if (c === null) {
    const { compressFrameSync } = await import('lz4-napi');
    return { bytes: compressFrameSync(data), room: 0, pooled: false };
  }
  const size = MAX_HEADER_BYTES + c.bound(data.length);
  const out = pool !== undefined ? pool.take(size) : Buffer.allocUnsafeSlow(size);
  try {
    const n = c.compressInto(data, out.subarray(MAX_HEADER_BYTES));
    return { bytes: out.subarray(MAX_HEADER_BYTES, MAX_HEADER_BYTES + n), room: MAX_HEADER_BYTES, pooled: pool !== undefined };
  } catch (err) {
    pool?.give(out);
    throw err;
  }
}

/** The largest original pitr stores: a WAL segment of the largest wal_segment_size. */
const MAX_ORIGINAL = 1 << 30;

/**
 * Decodes a payload that must hold exactly `size` bytes, into a buffer from `pool` when
 * given (the caller gives it back), else into a new one.
 */
export function decompress(method: string, payload: Buffer, size: number, what: string, pool?: BufferPool): Buffer {
  if (method === 'none') return payload;
  if (method !== 'lz4') throw new IntegrityError(`${what} uses unknown compression "${method}": upgrade pitr`);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_ORIGINAL)
    throw new IntegrityError(`${what} is corrupted: its header gives size ${size}`);
  const out = pool !== undefined ? pool.take(size) : Buffer.allocUnsafeSlow(size);
  try {
    const written = decodeLz4Frames(payload, out, what);
    if (written !== size) throw new IntegrityError(`${what} is corrupted: it decompresses to ${written} bytes, ${size} expected`);
  } catch (err) {
    pool?.give(out);
    throw err;
  }
  return out;
}

/**
 * Decodes every LZ4 frame in `src` into `dst` and returns the number of bytes written.
 * Damaged input, or output that would not fit, is an IntegrityError naming `what`.
 */
export function decodeLz4Frames(src: Buffer, dst: Buffer, what: string): number {
  const codec = liblz4();
  try {
    return codec !== null ? codec.decompressInto(src, dst) : decodeWithLz4Napi(src, dst);
  } catch (err) {
    throw new IntegrityError(`${what} is corrupted: lz4 decompression failed (${(err as Error).message})`);
  }
}

/** The fallback: lz4-napi decodes into a new buffer, copied into `dst`. */
function decodeWithLz4Napi(src: Buffer, dst: Buffer): number {
  const { decompressFrameSync } = createRequire(import.meta.url)('lz4-napi') as typeof import('lz4-napi');
  const out = decompressFrameSync(src);
  if (out.length > dst.length) throw new Error('output larger than expected');
  return out.copy(dst);
}
