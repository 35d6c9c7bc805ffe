import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { describe, expect, it } from 'vitest';
import { Lz4ChunkCompressor, Lz4ChunkDecompressor } from '../../src/codec/lz4-stream.js';
import { Measure } from '../../src/codec/measure.js';
import { IntegrityError } from '../../src/errors.js';

async function collect(source: Iterable<Buffer>, ...transforms: NodeJS.ReadWriteStream[]): Promise<Buffer> {
  const out: Buffer[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      out.push(chunk);
      done();
    },
  });
  await pipeline([Readable.from(source), ...transforms, sink]);
  return Buffer.concat(out);
}

// Compressible but not trivial data, fed in uneven pieces.
const data = Buffer.concat(Array.from({ length: 40 }, (_, i) => Buffer.concat([Buffer.alloc(3000 + i * 97, i), randomBytes(500)])));
const pieces = () => Array.from({ length: Math.ceil(data.length / 7777) }, (_, i) => data.subarray(i * 7777, (i + 1) * 7777));

describe('chunked LZ4 stream', () => {
  it('round-trips across chunk boundaries and measures what passes', async () => {
    const measure = new Measure();
    const compressed = await collect(pieces(), new Lz4ChunkCompressor(16 * 1024), measure);
    expect(compressed.length).toBeLessThan(data.length);
    expect(measure.bytes).toBe(compressed.length);
    const back = await collect([compressed.subarray(0, 5), compressed.subarray(5, 9999), compressed.subarray(9999)], new Lz4ChunkDecompressor('x'));
    expect(back.equals(data)).toBe(true);
  });

  it('keeps frame order with several frames in flight on the thread pool', async () => {
    const compressed = await collect(pieces(), new Lz4ChunkCompressor(4096, 4));
    const back = await collect([compressed], new Lz4ChunkDecompressor('x', 4));
    expect(back.equals(data)).toBe(true);
    const oneAtATime = await collect(pieces(), new Lz4ChunkCompressor(4096, 1));
    expect(oneAtATime.equals(compressed)).toBe(true);
  });

  it('is a valid LZ4 stream for the lz4 command line', async () => {
    const compressed = await collect(pieces(), new Lz4ChunkCompressor(16 * 1024));
    const dir = mkdtempSync(join(tmpdir(), 'pitr-lz4-'));
    writeFileSync(join(dir, 'x.lz4'), compressed);
    expect(execFileSync('lz4', ['-d', '-c', join(dir, 'x.lz4')], { maxBuffer: 1 << 26 }).equals(data)).toBe(true);
  });

  it('refuses truncated and damaged streams', async () => {
    const compressed = await collect(pieces(), new Lz4ChunkCompressor(16 * 1024));
    await expect(collect([compressed.subarray(0, compressed.length - 10)], new Lz4ChunkDecompressor('x'))).rejects.toThrow(/truncated/);
    const damaged = Buffer.from(compressed);
    damaged[0] = 0;
    await expect(collect([damaged], new Lz4ChunkDecompressor('x'))).rejects.toThrow(IntegrityError);
  });
});
