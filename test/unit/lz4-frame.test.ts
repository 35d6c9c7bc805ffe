// The LZ4 frame decoder against lz4-napi's encoder (the one push uses) and against frames
// built by hand for the features lz4-napi does not emit: every byte must match, and damaged
// input must be an IntegrityError, never a write out of bounds.
import { compressFrameSync, compressSync } from 'lz4-napi';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeLz4Frames } from '../../src/codec/lz4-frame.js';
import { IntegrityError } from '../../src/errors.js';

function decode(frame: Buffer, size: number): Buffer {
  const out = Buffer.alloc(size);
  const n = decodeLz4Frames(frame, out, 'test object');
  return out.subarray(0, n);
}

/** Data shaped like WAL: page headers, long zero runs, repeated records, short periods, random tails. */
function walLike(size: number): Buffer {
  const b = Buffer.alloc(size);
  const noise = pseudoRandom(size);
  for (let page = 0; page < size; page += 8192) {
    b.writeUInt32LE(0xd110 + page, page);
    const fill = Math.min(8192, size - page);
    const kind = (page / 8192) % 5;
    if (kind === 1) noise.copy(b, page + 24, page, page + Math.min(fill - 24, 3000));
    if (kind === 2) for (let i = 24; i < fill; i++) b[page + i] = i % 3; // period 3
    if (kind === 3) for (let i = 24; i < fill; i++) b[page + i] = (i * 7) & 0xff; // period 256
    if (kind === 4) for (let i = 24; i < fill; i += 100) noise.copy(b, page + i, page + i, page + i + Math.min(7, fill - i));
  }
  return b;
}

/** Reproducible noise (xorshift32), so the damage test below flips the same bytes every run. */
function pseudoRandom(size: number): Buffer {
  const b = Buffer.alloc(size);
  let x = 2463534242;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    b[i] = x & 0xff;
  }
  return b;
}

const cases: Record<string, Buffer> = {
  empty: Buffer.alloc(0),
  'one byte': Buffer.from([7]),
  zeros: Buffer.alloc(5 << 20), // crosses 4 MiB blocks; matches megabytes long at offset 1
  random: randomBytes(1 << 20), // incompressible: stored blocks
  text: Buffer.from('INSERT INTO t VALUES (42, now());\n'.repeat(20000)),
  'WAL-like': walLike(6 << 20),
};

describe('LZ4 frame decoder', () => {
  for (const [name, data] of Object.entries(cases)) {
    it(`decodes lz4-napi frames of ${name} data byte for byte`, () => {
      expect(decode(compressFrameSync(data), data.length).equals(data)).toBe(true);
      const checked = compressFrameSync(data, { blockChecksums: true, contentChecksum: true });
      expect(decode(checked, data.length).equals(data)).toBe(true);
    });
  }

  it('decodes concatenated frames, skippable frames between them, and a frame with a content size', () => {
    const a = walLike(100_000);
    const b = Buffer.from('tail '.repeat(999));
    const skippable = Buffer.alloc(8 + 5);
    skippable.writeUInt32LE(0x184d2a53, 0);
    skippable.writeUInt32LE(5, 4);
    const sized = handFrame([compressedBlock(b)], { contentSize: b.length });
    const out = decode(Buffer.concat([compressFrameSync(a), skippable, sized]), a.length + b.length);
    expect(out.equals(Buffer.concat([a, b]))).toBe(true);
  });

  it('decodes linked blocks whose matches reach into the block before', () => {
    const text = Buffer.from('a sentence that repeats across the block boundary. ');
    const first = literalsOnly(text);
    // Second block: one match of text.length bytes at offset text.length, then no literals.
    const second = Buffer.from([0x0f, text.length & 0xff, text.length >> 8, text.length - 4 - 15, 0x00]);
    const frame = handFrame([first, second], { linked: true });
    expect(decode(frame, 2 * text.length).equals(Buffer.concat([text, text]))).toBe(true);
    // The same blocks in a frame that declares them independent reach outside their block.
    expect(() => decode(handFrame([first, second]), 2 * text.length)).toThrow(/match offset outside/);
  });

  it('refuses damaged input with an IntegrityError and never writes past the output', () => {
    const data = walLike(1 << 20);
    const frame = compressFrameSync(data);
    expect(() => decode(frame, data.length - 1)).toThrow(/output larger than expected/);
    expect(() => decode(frame.subarray(0, frame.length - 100), data.length)).toThrow(/truncated/);
    expect(() => decode(Buffer.from('not lz4 at all'), 100)).toThrow(/bad frame magic/);
    const dict = Buffer.from(frame);
    dict[4] = dict[4]! | 0x01;
    expect(() => decode(dict, data.length)).toThrow(/dictionary/);
    // Flip bytes inside the blocks. Most land in literals and decode to wrong bytes of the
    // right length (the SHA-256 of the payload catches those before decoding); the rest
    // must be an IntegrityError. None may write past the output.
    const out = Buffer.alloc(data.length + 16);
    let refused = 0;
    for (let i = 0; i < 200; i++) {
      const damaged = Buffer.from(frame);
      const at = 11 + ((i * 7919) % (damaged.length - 15));
      damaged[at] = damaged[at]! ^ (1 + (i % 255));
      out.fill(0xaa, data.length);
      try {
        decodeLz4Frames(damaged, out.subarray(0, data.length), 'test object');
      } catch (err) {
        expect(err).toBeInstanceOf(IntegrityError);
        refused++;
      }
      expect(out.subarray(data.length).every((b) => b === 0xaa)).toBe(true);
    }
    expect(refused).toBeGreaterThan(0);
  });

  it('decodes blocks as lz4-napi compresses them alone (its block format, size-prepended)', () => {
    const data = walLike(200_000);
    const block = compressSync(data).subarray(4); // lz4_flex prepends the size
    expect(decode(handFrame([block]), data.length).equals(data)).toBe(true);
  });
});

/** A block of literals only: a token, its length extension (255 while more follows), the bytes. */
function literalsOnly(bytes: Buffer): Buffer {
  if (bytes.length < 15) return Buffer.concat([Buffer.from([bytes.length << 4]), bytes]);
  const ext: number[] = [];
  let rest = bytes.length - 15;
  for (; rest >= 255; rest -= 255) ext.push(255);
  return Buffer.concat([Buffer.from([0xf0, ...ext, rest]), bytes]);
}

function compressedBlock(data: Buffer): Buffer {
  return compressSync(data).subarray(4);
}

function handFrame(blocks: Buffer[], opts: { linked?: boolean; contentSize?: number } = {}): Buffer {
  const flg = 0x40 | (opts.linked ? 0 : 0x20) | (opts.contentSize !== undefined ? 0x08 : 0);
  const size = Buffer.alloc(opts.contentSize !== undefined ? 8 : 0);
  if (opts.contentSize !== undefined) size.writeBigUInt64LE(BigInt(opts.contentSize));
  const parts: Buffer[] = [Buffer.from([0x04, 0x22, 0x4d, 0x18, flg, 0x70]), size, Buffer.from([0x00])];
  for (const b of blocks) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    parts.push(len, b);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}
