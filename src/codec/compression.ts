// Compression codecs for stored objects. lz4 uses the standard LZ4 frame format, so an
// operator can read any object with plain `lz4 -d` in an emergency. Compressing uses
// lz4-napi, loaded only when needed; it costs ~8 ms per 16 MiB segment, synchronously,
// which spares the resident archiver a thread-pool round trip per file (see
// storage/file.ts). Decoding is ours, into a buffer the caller can reuse (lz4-frame.ts).
import type { Compression } from '../config/config.js';
import { IntegrityError } from '../errors.js';
import type { BufferPool } from '../os/buffer-pool.js';
import { decodeLz4Frames } from './lz4-frame.js';

export async function compress(method: Compression, data: Buffer): Promise<Buffer> {
  if (method === 'none') return data;
  const { compressFrameSync } = await import('lz4-napi');
  return compressFrameSync(data);
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
  if (!Number.isSafeInteger(size) || size < 0 || size > MAX_ORIGINAL) throw new IntegrityError(`${what} is corrupted: its header gives size ${size}`);
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
