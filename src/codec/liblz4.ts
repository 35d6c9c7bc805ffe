// LZ4 frames by the system's liblz4 (the C reference library, which PostgreSQL's Debian
// packages link too), called through koffi: compressed into, and decoded into, buffers the
// caller owns.
//
// Why not lz4-napi alone: it compresses with lz4_flex (Rust) into a new buffer it grows per
// call. On 58 WAL segments of a bulk load that took 11.5 ms per segment against 3.7 ms for
// liblz4's LZ4F_compressFrame, at the same ratio; in the resident archiver compression was
// ~40% of its CPU, taken beside the database. lz4-napi stays as the fallback where liblz4
// cannot be loaded (no liblz4.so.1, or one older than 1.8.2, whose options struct differs).
//
// Decoding was a hand-written decoder before (7 ms per 16 MiB segment, against 17-28 ms for
// lz4-napi, which returns a new buffer grown by doubling): liblz4's LZ4F_decompress writes
// into the caller's buffer as well, in C, and checks every bound itself.
//
// Only functions of liblz4's stable frame API are bound. The destination's capacity always
// comes from LZ4F_compressFrameBound for the same options, or is passed to LZ4F_decompress,
// so the library cannot write past it.
import { createRequire } from 'node:module';

/** Compresses and decodes in caller-owned memory. */
export interface FrameCodec {
  /** Most bytes a frame of `size` input bytes can take. */
  bound(size: number): number;
  /** Compresses `src` as one LZ4 frame into `dst` (at least bound(src.length) long); returns its length. */
  compressInto(src: Buffer, dst: Buffer): number;
  /**
   * Decodes every frame in `src` (skippable frames are skipped) into `dst`; returns the bytes
   * written. Throws a plain Error with liblz4's reason on damaged or truncated input, or when
   * the output does not fit in `dst`.
   */
  decompressInto(src: Buffer, dst: Buffer): number;
}

/** LZ4F_preferences_t as of 1.8.2 (favorDecSpeed took a reserved field then): 56 bytes. */
const MIN_VERSION = 10802;
const BLOCK_4MB = 7; // LZ4F_max4MB: the lz4 tool's default
const INDEPENDENT = 1; // LZ4F_blockIndependent: blocks decode without their predecessors

const LZ4F_VERSION = 100;

let loaded: FrameCodec | null | undefined;

/**
 * liblz4's codec, or null where it cannot be loaded (callers fall back to lz4-napi). Loaded
 * synchronously on first use (koffi is a CommonJS addon), so that reads can decode
 * synchronously.
 */
export function liblz4(): FrameCodec | null {
  if (loaded === undefined) {
    try {
      loaded = load();
    } catch {
      loaded = null;
    }
  }
  return loaded;
}

function load(): FrameCodec | null {
  const koffi = createRequire(import.meta.url)('koffi') as typeof import('koffi');
  const lib = koffi.load('liblz4.so.1');
  if ((lib.func('int LZ4_versionNumber()')() as number) < MIN_VERSION) return null;
  const frameInfo = koffi.struct('pitr_LZ4F_frameInfo_t', {
    blockSizeID: 'int',
    blockMode: 'int',
    contentChecksumFlag: 'int',
    frameType: 'int',
    contentSize: 'uint64',
    dictID: 'uint32',
    blockChecksumFlag: 'int',
  });
  const preferences = koffi.struct('pitr_LZ4F_preferences_t', {
    frameInfo,
    compressionLevel: 'int',
    autoFlush: 'uint32',
    favorDecSpeed: 'uint32',
    reserved: koffi.array('uint32', 3),
  });
  if (koffi.sizeof(preferences) !== 56) return null;
  const boundFn = lib.func('size_t LZ4F_compressFrameBound(size_t srcSize, const pitr_LZ4F_preferences_t *prefs)');
  const compressFn = lib.func(
    'size_t LZ4F_compressFrame(void *dst, size_t dstCapacity, const void *src, size_t srcSize, const pitr_LZ4F_preferences_t *prefs)',
  );
  const errorName = lib.func('const char *LZ4F_getErrorName(size_t code)');
  koffi.opaque('pitr_LZ4F_dctx');
  const createDctx = lib.func('size_t LZ4F_createDecompressionContext(_Out_ pitr_LZ4F_dctx **dctx, unsigned int version)');
  const freeDctx = lib.func('size_t LZ4F_freeDecompressionContext(pitr_LZ4F_dctx *dctx)');
  const decompressFn = lib.func(
    'size_t LZ4F_decompress(pitr_LZ4F_dctx *dctx, void *dst, _Inout_ size_t *dstSize, const void *src, _Inout_ size_t *srcSize, void *options)',
  );
  // An error is a size_t near 2^64, which koffi returns as a bigint.
  const succeeded = (n: unknown): n is number => typeof n === 'number';
  // The content size goes in the frame for `lz4 -d`, which checks it; pitr's own reads check
  // the decoded size against the object's header, and the payload's SHA-256, so no xxHash.
  const prefs = (contentSize: number) => ({
    frameInfo: {
      blockSizeID: BLOCK_4MB,
      blockMode: INDEPENDENT,
      contentChecksumFlag: 0,
      frameType: 0,
      contentSize,
      dictID: 0,
      blockChecksumFlag: 0,
    },
    compressionLevel: 0,
    autoFlush: 0,
    favorDecSpeed: 0,
    reserved: [0, 0, 0],
  });
  const bound = (size: number) => Number(boundFn(size, prefs(size)));
  return {
    bound,
    compressInto(src, dst) {
      if (dst.length < bound(src.length))
        throw new RangeError(`LZ4 destination of ${dst.length} bytes is below the bound for ${src.length}`);
      const n: unknown = compressFn(dst, dst.length, src, src.length, prefs(src.length));
      if (!succeeded(n) || n > dst.length) throw new Error(`liblz4 could not compress ${src.length} bytes: ${String(errorName(n))}`);
      return n;
    },
    decompressInto(src, dst) {
      const holder: unknown[] = [null];
      if (!succeeded(createDctx(holder, LZ4F_VERSION))) throw new Error('liblz4 could not create a decompression context');
      const dctx = holder[0];
      try {
        let s = 0;
        let d = 0;
        let hint: unknown = 1;
        while (s < src.length) {
          const dstSize = [dst.length - d];
          const srcSize = [src.length - s];
          hint = decompressFn(dctx, dst.subarray(d), dstSize, src.subarray(s), srcSize, null);
          if (!succeeded(hint)) throw new Error(plainReason(String(errorName(hint))));
          s += srcSize[0]!;
          d += dstSize[0]!;
          // Input left, none taken and nothing written: the output is full.
          if (srcSize[0] === 0 && dstSize[0] === 0) throw new Error('output larger than expected');
        }
        // 0: the last frame ended where the input did; anything else asks for more input.
        if (hint !== 0) throw new Error('truncated frame');
        return d;
      } finally {
        freeDctx(dctx);
      }
    },
  };
}

/** liblz4's error names, in words an operator reads in one line. */
const REASONS: Record<string, string> = {
  ERROR_frameType_unknown: 'bad frame magic: not an LZ4 frame',
  ERROR_headerChecksum_invalid: 'frame header checksum mismatch',
  ERROR_decompressionFailed: 'damaged block data',
  ERROR_blockChecksum_invalid: 'block checksum mismatch',
  ERROR_contentChecksum_invalid: 'content checksum mismatch',
  ERROR_frameSize_wrong: 'content size differs from the frame header',
};

function plainReason(name: string): string {
  return REASONS[name] ?? name;
}
