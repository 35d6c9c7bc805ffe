// Compression codecs for stored objects. lz4 uses the standard LZ4 frame format, so an
// operator can read any object with plain `lz4 -d` in an emergency. lz4-napi is loaded
// only when a codec needs it. Measured on 16 MiB WAL segments here: decompressing with the
// asynchronous call costs ~5 ms of CPU, with decompressFrameSync ~40, so decompression is
// asynchronous; compressing costs ~8 ms either way, so it is synchronous, which spares the
// resident archiver a thread-pool round trip per file (see storage/file.ts).
import type { Compression } from '../config/config.js';
import { IntegrityError } from '../errors.js';

export async function compress(method: Compression, data: Buffer): Promise<Buffer> {
  if (method === 'none') return data;
  const { compressFrameSync } = await import('lz4-napi');
  return compressFrameSync(data);
}

export async function decompress(method: string, payload: Buffer, what: string): Promise<Buffer> {
  if (method === 'none') return payload;
  if (method !== 'lz4') throw new IntegrityError(`${what} uses unknown compression "${method}": upgrade pitr`);
  const { decompressFrame } = await import('lz4-napi');
  try {
    return await decompressFrame(payload);
  } catch (err) {
    throw new IntegrityError(`${what} is corrupted: lz4 decompression failed (${(err as Error).message})`);
  }
}
