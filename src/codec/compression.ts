// Compression codecs for stored objects. lz4 uses the standard LZ4 frame format, so an
// operator can read any object with plain `lz4 -d` in an emergency. Compressing uses
// lz4-napi, loaded only when needed; it costs ~8 ms per 16 MiB segment, synchronously,
// which spares the resident archiver a thread-pool round trip per file (see
// storage/file.ts). Decoding is ours, into a buffer the caller can reuse (lz4-frame.ts).
import type { Compression } from '../config/config.js';
import { IntegrityError } from '../errors.js';
import { decodeLz4Frames } from './lz4-frame.js';

export async function compress(method: Compression, data: Buffer): Promise<Buffer> {
  if (method === 'none') return data;
  const { compressFrameSync } = await import('lz4-napi');
  return compressFrameSync(data);
}

/** The largest original pitr stores: a WAL segment of the largest wal_segment_size. */
const MAX_ORIGINAL = 1 << 30;

/**
 * One buffer that a long-lived reader (the prefetcher) decodes every object into: its pages
 * stay faulted in, and V8 sees no new external memory per segment, so no GC per segment.
 */
export class ReusedBuffer {
  private buffer: Buffer | null = null;

  take(size: number): Buffer {
    if (this.buffer === null || this.buffer.length < size) this.buffer = Buffer.allocUnsafeSlow(size);
    return this.buffer.subarray(0, size);
  }
}

/**
 * Decodes a payload that must hold exactly `size` bytes, into `into` when given, else into
 * a new buffer. Synchronous: a result in `into` is valid until the next decode into it, so
 * the caller uses it with no await in between (archive/fetch.ts).
 */
export function decompress(method: string, payload: Buffer, size: number, what: string, into?: ReusedBuffer): Buffer {
  if (method === 'none') return payload;
  if (method !== 'lz4') throw new IntegrityError(`${what} uses unknown compression "${method}": upgrade pitr`);
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_ORIGINAL) throw new IntegrityError(`${what} is corrupted: its header gives size ${size}`);
  const out = into !== undefined ? into.take(size) : Buffer.allocUnsafeSlow(size);
  const written = decodeLz4Frames(payload, out, what);
  if (written !== size) throw new IntegrityError(`${what} is corrupted: it decompresses to ${written} bytes, ${size} expected`);
  return out;
}
