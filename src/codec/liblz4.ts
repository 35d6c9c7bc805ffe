// LZ4 frame compression by the system's liblz4 (the C reference library, which PostgreSQL's
// Debian packages link too), called through koffi, into a buffer the caller owns.
//
// Why not lz4-napi alone: it compresses with lz4_flex (Rust) into a new buffer it grows per
// call. On 58 WAL segments of a bulk load that took 11.5 ms per segment against 3.7 ms for
// liblz4's LZ4F_compressFrame, at the same ratio; in the resident archiver compression was
// ~40% of its CPU, taken beside the database. lz4-napi stays as the fallback where liblz4
// cannot be loaded (no liblz4.so.1, or one older than 1.8.2, whose options struct differs).
//
// Only two functions of a stable ABI are bound. The destination's capacity always comes from
// LZ4F_compressFrameBound for the same options, so the library cannot write past it.
/** Compresses into caller-owned memory. */
export interface FrameCompressor {
  /** Most bytes a frame of `size` input bytes can take. */
  bound(size: number): number;
  /** Compresses `src` as one LZ4 frame into `dst` (at least bound(src.length) long); returns its length. */
  compressInto(src: Buffer, dst: Buffer): number;
}

/** LZ4F_preferences_t as of 1.8.2 (favorDecSpeed took a reserved field then): 56 bytes. */
const MIN_VERSION = 10802;
const BLOCK_4MB = 7; // LZ4F_max4MB: the lz4 tool's default
const INDEPENDENT = 1; // LZ4F_blockIndependent: blocks decode without their predecessors

let loading: Promise<FrameCompressor | null> | undefined;

/** liblz4's compressor, or null where it cannot be loaded (callers fall back to lz4-napi). */
export function liblz4(): Promise<FrameCompressor | null> {
  loading ??= load().catch(() => null);
  return loading;
}

async function load(): Promise<FrameCompressor | null> {
  const { default: koffi } = await import('koffi');
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
      // An error is a size_t near 2^64, which koffi returns as a bigint.
      if (typeof n !== 'number' || n > dst.length)
        throw new Error(`liblz4 could not compress ${src.length} bytes: ${String(errorName(n))}`);
      return n;
    },
  };
}
