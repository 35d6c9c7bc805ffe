// LZ4 frame decoding (liblz4 through koffi) against lz4-napi's encoder, the lz4 tool's linked
// blocks, and frames built by hand for features neither emits: every byte must match, and
// damaged input must be an IntegrityError, never a write out of bounds.
import { compressFrameSync, compressSync } from 'lz4-napi';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { decodeLz4Frames } from '../../src/codec/compression.js';
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
    // The lz4 tool writes linked blocks with -BD; 64 KiB blocks (-B4) of text that repeats
    // across their boundaries make matches that reach back into the block before.
    const text = Buffer.from('a sentence that repeats across the block boundary. '.repeat(5000));
    const frame = execFileSync('lz4', ['-BD', '-B4', '-c', '-q'], { input: text });
    expect(frame[4]! & 0x20).toBe(0); // block independence flag off: linked
    expect(decode(frame, text.length).equals(text)).toBe(true);
    // The same blocks in a frame that declares them independent reach outside their block.
    const independent = Buffer.from(frame);
    independent[4] = independent[4]! | 0x20;
    independent[6] = (xxh32(independent.subarray(4, 6)) >>> 8) & 0xff;
    expect(() => decode(independent, text.length)).toThrow(/damaged block data/);
  });

  it('refuses damaged input with an IntegrityError and never writes past the output', () => {
    const data = walLike(1 << 20);
    const frame = compressFrameSync(data);
    expect(() => decode(frame, data.length - 1)).toThrow(/output larger than expected/);
    expect(() => decode(frame.subarray(0, frame.length - 100), data.length)).toThrow(/truncated/);
    expect(() => decode(Buffer.from('not lz4 at all'), 100)).toThrow(/bad frame magic/);
    const dict = Buffer.from(frame);
    dict[4] = dict[4]! | 0x01;
    expect(() => decode(dict, data.length)).toThrow(/header checksum/);
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

function compressedBlock(data: Buffer): Buffer {
  return compressSync(data).subarray(4);
}

function handFrame(blocks: Buffer[], opts: { linked?: boolean; contentSize?: number } = {}): Buffer {
  const flg = 0x40 | (opts.linked ? 0 : 0x20) | (opts.contentSize !== undefined ? 0x08 : 0);
  const size = Buffer.alloc(opts.contentSize !== undefined ? 8 : 0);
  if (opts.contentSize !== undefined) size.writeBigUInt64LE(BigInt(opts.contentSize));
  const descriptor = Buffer.concat([Buffer.from([flg, 0x70]), size]);
  const parts: Buffer[] = [Buffer.from([0x04, 0x22, 0x4d, 0x18]), descriptor, Buffer.from([(xxh32(descriptor) >>> 8) & 0xff])];
  for (const b of blocks) {
    const len = Buffer.alloc(4);
    len.writeUInt32LE(b.length);
    parts.push(len, b);
  }
  parts.push(Buffer.alloc(4));
  return Buffer.concat(parts);
}

/**
 * XXH32 with seed 0, for inputs under 16 bytes (a frame descriptor): liblz4 checks the
 * header checksum byte, so hand-built frames must carry a real one.
 */
function xxh32(input: Buffer): number {
  const [P1, P2, P3, P4, P5] = [0x9e3779b1, 0x85ebca77, 0xc2b2ae3d, 0x27d4eb2f, 0x165667b1];
  const rotl = (x: number, r: number) => ((x << r) | (x >>> (32 - r))) >>> 0;
  let h = (P5 + input.length) >>> 0;
  let i = 0;
  for (; i + 4 <= input.length; i += 4) h = Math.imul(rotl((h + Math.imul(input.readUInt32LE(i), P3)) >>> 0, 17), P4) >>> 0;
  for (; i < input.length; i++) h = Math.imul(rotl((h + Math.imul(input[i]!, P5)) >>> 0, 11), P1) >>> 0;
  h = Math.imul(h ^ (h >>> 15), P2) >>> 0;
  h = Math.imul(h ^ (h >>> 13), P3) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}
