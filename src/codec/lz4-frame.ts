// Decodes an LZ4 frame (https://github.com/lz4/lz4/blob/dev/doc/lz4_Frame_format.md) into
// a buffer the caller owns. lz4-napi's decoders return a new buffer per call, grown by
// doubling: for a 16 MiB segment that is ~32 MiB of fresh pages to fault in and zero, a
// copy per doubling, and a major GC per segment once V8 counts the external memory. In
// the prefetcher, beside replay, that was most of its CPU (docs/archiving.md). Decoding into
// one reused buffer here cost 7 ms per segment against 17-28 ms for lz4-napi (69 segments
// of recovery WAL). lz4js also decodes into a caller's buffer, but copies byte by byte (15
// ms). Compression stays with lz4-napi.
//
// Checksums inside the frame (header, block and content xxHash32) are not verified: every
// stored payload is checked against its SHA-256 before it is decoded, and the decoded size
// against the header. What this decoder does check is every bound, so that damaged input
// is an error and never a write outside `dst` or a read before the output's start.
import { IntegrityError } from '../errors.js';

const FRAME_MAGIC = 0x184d2204;
const SKIPPABLE_MIN = 0x184d2a50;
const SKIPPABLE_MAX = 0x184d2a5f;
const MIN_MATCH = 4;
/** Below this, a loop beats the call into copyWithin/set. */
const SHORT_COPY = 16;

/**
 * Decodes every frame in `src` into `dst` and returns the number of bytes written. Throws
 * IntegrityError (naming `what`) on anything malformed, or if the output would not fit.
 */
export function decodeLz4Frames(src: Uint8Array, dst: Uint8Array, what: string): number {
  const bad = (why: string): IntegrityError => new IntegrityError(`${what} is corrupted: lz4 decompression failed (${why})`);
  let s = 0;
  let d = 0;
  if (src.length < 4) throw bad('no frame');
  while (s < src.length) {
    if (s + 4 > src.length) throw bad('truncated frame');
    const magic = readU32(src, s);
    if (magic >= SKIPPABLE_MIN && magic <= SKIPPABLE_MAX) {
      if (s + 8 > src.length) throw bad('truncated skippable frame');
      s += 8 + readU32(src, s + 4);
      if (s > src.length) throw bad('truncated skippable frame');
      continue;
    }
    if (magic !== FRAME_MAGIC) throw bad('bad frame magic');
    s += 4;
    if (s + 3 > src.length) throw bad('truncated frame header');
    const flags = src[s]!;
    if (flags >> 6 !== 1) throw bad('unsupported frame version');
    if (flags & 0x02) throw bad('reserved flag set');
    if (flags & 0x01) throw bad('dictionary frames are not supported');
    const independent = (flags & 0x20) !== 0;
    const blockChecksums = (flags & 0x10) !== 0;
    const contentSize = (flags & 0x08) !== 0;
    const contentChecksum = (flags & 0x04) !== 0;
    s += 2 + (contentSize ? 8 : 0) + 1; // FLG, BD, content size, header checksum
    const frameStart = d;
    for (;;) {
      if (s + 4 > src.length) throw bad('truncated block');
      const word = readU32(src, s);
      s += 4;
      if (word === 0) break; // end mark
      const size = word & 0x7fffffff;
      const end = s + size;
      if (end > src.length) throw bad('truncated block');
      if (word & 0x80000000) {
        if (d + size > dst.length) throw bad('output larger than expected');
        dst.set(src.subarray(s, end), d);
        d += size;
      } else {
        d = decodeBlock(src, s, end, dst, d, independent ? d : frameStart, bad);
      }
      s = end + (blockChecksums ? 4 : 0);
    }
    s += contentChecksum ? 4 : 0;
    if (s > src.length) throw bad('truncated frame');
  }
  return d;
}

/** One LZ4 block: sequences of literals and a match (offset, length) into the output. */
function decodeBlock(
  src: Uint8Array,
  s: number,
  end: number,
  dst: Uint8Array,
  d: number,
  lowest: number,
  bad: (why: string) => Error,
): number {
  const limit = dst.length;
  for (;;) {
    if (s >= end) throw bad('block ends inside a sequence');
    const token = src[s++]!;
    let literals = token >>> 4;
    if (literals === 15) {
      const next = afterExtension(src, s, end, bad);
      literals += 255 * (next - s - 1) + src[next - 1]!;
      s = next;
    }
    if (s + literals > end) throw bad('literals run past the block');
    if (d + literals > limit) throw bad('output larger than expected');
    if (literals < SHORT_COPY) {
      for (let k = 0; k < literals; k++) dst[d + k] = src[s + k]!;
    } else {
      dst.set(src.subarray(s, s + literals), d);
    }
    s += literals;
    d += literals;
    if (s === end) return d; // the last sequence has literals only

    if (s + 2 > end) throw bad('block ends inside an offset');
    const offset = src[s]! | (src[s + 1]! << 8);
    s += 2;
    let length = token & 15;
    if (length === 15) {
      const next = afterExtension(src, s, end, bad);
      length += 255 * (next - s - 1) + src[next - 1]!;
      s = next;
    }
    length += MIN_MATCH;
    const from = d - offset;
    if (offset === 0 || from < lowest) throw bad('match offset outside the output');
    if (d + length > limit) throw bad('output larger than expected');
    if (length < SHORT_COPY) {
      // Byte by byte is also the defined meaning of an overlapping match.
      for (let k = 0; k < length; k++) dst[d + k] = dst[from + k]!;
    } else if (offset >= length) {
      dst.copyWithin(d, from, from + length);
    } else {
      // Overlapping: the match repeats its last `offset` bytes. Copy whole periods, doubling
      // the run each time (a run of zeros has offset 1 and may be megabytes long).
      let done = 0;
      while (done < length) {
        const n = Math.min(offset + done, length - done);
        dst.copyWithin(d + done, from, from + n);
        done += n;
      }
    }
    d += length;
  }
}

/**
 * Where a length's extension bytes at src[s] end: bytes of 255 while more follow, then one
 * below 255. The extension adds 255 per byte before the last, plus the last.
 */
function afterExtension(src: Uint8Array, s: number, end: number, bad: (why: string) => Error): number {
  do {
    if (s >= end) throw bad('block ends inside a length');
  } while (src[s++] === 255);
  return s;
}

function readU32(b: Uint8Array, at: number): number {
  return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
}
