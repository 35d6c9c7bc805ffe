// Compression through the system's liblz4 (the archiver's codec) and the lz4-napi fallback:
// every frame must decode to the original with pitr's decoder and with lz4-napi's, and an
// object built in the header room in front of the payload must not copy the payload.
import { decompressFrameSync } from 'lz4-napi';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compressLz4, decompress } from '../../src/codec/compression.js';
import { liblz4 } from '../../src/codec/liblz4.js';
import { decodeHeader, encodeObject, MAX_HEADER_BYTES, sha256, type ObjectMeta } from '../../src/codec/object-format.js';
import { BufferPool } from '../../src/os/buffer-pool.js';

/** WAL-like: 8 KiB pages, each a header, some records, and a zero tail. */
function walLike(size: number): Buffer {
  const b = Buffer.alloc(size);
  const noise = randomBytes(size);
  for (let page = 0; page < size; page += 8192) {
    b.writeUInt32LE(0xd110, page);
    noise.copy(b, page + 24, page, page + Math.min(2000, size - page - 24));
    b.fill('insert row;', page + 2100, Math.min(page + 6000, size));
  }
  return b;
}

const inputs: [string, Buffer][] = [
  ['empty', Buffer.alloc(0)],
  ['one byte', Buffer.from([7])],
  ['a 16 MiB WAL-like segment', walLike(16 << 20)],
  ['5 MiB of random bytes (stored blocks)', randomBytes(5 << 20)],
];

describe('liblz4', () => {
  it('loads on this machine (the archiver would otherwise fall back to lz4-napi, ~3x the CPU)', async () => {
    expect(await liblz4()).not.toBeNull();
  });

  for (const [label, data] of inputs) {
    it(`compresses ${label} into frames both decoders read back`, async () => {
      const c = (await liblz4())!;
      const dst = Buffer.alloc(c.bound(data.length));
      const n = c.compressInto(data, dst);
      const frame = dst.subarray(0, n);
      expect(decompress('lz4', frame, data.length, 'test').equals(data)).toBe(true);
      expect(decompressFrameSync(frame).equals(data)).toBe(true);
    });
  }

  it('refuses a destination below the bound instead of writing into it', async () => {
    const c = (await liblz4())!;
    const data = randomBytes(100_000);
    const dst = Buffer.alloc(c.bound(data.length) - 1, 0xee);
    expect(() => c.compressInto(data, dst)).toThrow(RangeError);
    expect(dst.every((b) => b === 0xee)).toBe(true);
  });
});

describe('compressLz4 and encodeObject', () => {
  const data = walLike(1 << 20);
  const meta = (payload: Buffer): ObjectMeta => ({
    v: 1,
    name: '000000010000000000000001',
    size: data.length,
    compression: 'lz4',
    payloadSize: payload.length,
    payloadSha256: sha256(payload),
  });
  const readBack = (object: Buffer) => {
    const { meta: m, headerLength } = decodeHeader(object, 'test');
    const payload = object.subarray(headerLength);
    expect(sha256(payload)).toBe(m.payloadSha256);
    return decompress(m.compression, payload, m.size, 'test');
  };

  it('with liblz4 and a pool: the payload lies in a pooled buffer with header room, and the object is built in place', async () => {
    const pool = new BufferPool(1);
    const payload = await compressLz4(data, await liblz4(), pool);
    expect(payload.pooled).toBe(true);
    expect(payload.room).toBe(MAX_HEADER_BYTES);
    const object = encodeObject(meta(payload.bytes), payload.bytes, payload.room);
    expect(object.buffer).toBe(payload.bytes.buffer); // not copied
    expect(readBack(object).equals(data)).toBe(true);
    pool.give(payload.bytes);
    expect(pool.take(MAX_HEADER_BYTES).buffer).toBe(payload.bytes.buffer);
  });

  it('without liblz4: lz4-napi, and the object is a copy', async () => {
    const payload = await compressLz4(data, null);
    expect(payload).toMatchObject({ room: 0, pooled: false });
    const object = encodeObject(meta(payload.bytes), payload.bytes, payload.room);
    expect(object.buffer).not.toBe(payload.bytes.buffer);
    expect(readBack(object).equals(data)).toBe(true);
  });
});
