// Finds the transaction ends (commit and abort records) in one WAL segment, with their times
// and LSNs: what a recovery_target_time can stop at. PostgreSQL stops a time target only at
// a commit or abort record (recoveryStopsBefore/After in xlogrecovery.c), so the last one
// archived is the latest time a restore can reach; past it, recovery runs out of WAL and
// fails with "recovery ended before configured recovery target was reached".
//
// The layout is PostgreSQL's (access/xlog_internal.h, xlogrecord.h, xact.h), the same in
// 13 to 18: pages of XLOG_BLCKSZ bytes, each starting with a page header (the first one long);
// records MAXALIGNed (8) and written as one byte stream across page headers, each a 24-byte
// XLogRecord header, then block headers, then the main data last. A commit's or abort's main
// data starts with xact_time, microseconds since 2000-01-01 UTC.
//
// The walk trusts nothing it reads: each page must carry its own address, each record must
// point back at the one before (xl_prev); anything else ends the walk, which can only make
// the result miss transaction ends, never invent one. Misses are on the safe side: a window
// that ends too early refuses a time that was reachable, never accepts one that is not.
// One miss is known: a record that begins here and ends in the next segment, with its time
// there (a few in a million; the segment being archived is all there is to read).
//
// Pure, and on the archiver's path, where its cost counts: the first end is found walking
// forward from the segment's start, the last walking forward through chunks of pages taken
// from the end backwards (a page header says where its first record starts, which is how
// PostgreSQL's own XLogFindNextRecord finds a record boundary). A segment with transactions
// all through costs two short walks; only one without any (a bulk load inside one
// transaction) is walked whole, at ~20 ns a record.
import { formatLsn } from './names.js';

export interface TransactionEnd {
  /** xact_time as ISO 8601 UTC with microseconds: 2026-12-05T04:50:05.123456Z. */
  time: string;
  /** The record's LSN, as PostgreSQL prints it. */
  lsn: string;
}

/** The first and the last commit or abort record (prepared ones too) that begin in a segment, by position; {} when none. */
export interface TransactionEnds {
  first?: TransactionEnd;
  last?: TransactionEnd;
}

const XLP_FIRST_IS_CONTRECORD = 0x0001;
const XLP_LONG_HEADER = 0x0002;
const SHORT_HEADER = 24;
const LONG_HEADER = 40;
const RECORD_HEADER = 24;
const RM_XLOG = 0;
const RM_XACT = 1;
const XLOG_SWITCH = 0x40;
/** xact.h: COMMIT 0x00, ABORT 0x20, COMMIT_PREPARED 0x30, ABORT_PREPARED 0x40 (under XLOG_XACT_OPMASK 0x70). */
const isEnd = (info: number) => {
  const op = info & 0x70;
  return op === 0x00 || op === 0x20 || op === 0x30 || op === 0x40;
};
const BLOCK_ID_DATA_SHORT = 255;
const BLOCK_ID_DATA_LONG = 254;
const BLOCK_ID_ORIGIN = 253;
const BLOCK_ID_TOPLEVEL_XID = 252;
const MAX_BLOCK_ID = 32;
const BKPBLOCK_HAS_IMAGE = 0x10;
const BKPBLOCK_SAME_REL = 0x80;
const BKPIMAGE_HAS_HOLE = 0x01;
/** PostgreSQL's 2000-01-01 epoch in Unix milliseconds. */
const PG_EPOCH_MS = 946_684_800_000;
/** Pages walked at a time looking backwards for the last end: 256 KiB. */
const CHUNK_PAGES = 32;
const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** The transaction ends in `segment`, a whole WAL segment of PostgreSQL `pgVersion`. */
export function scanTransactionEnds(segment: Buffer, pgVersion: number): TransactionEnds {
  const walk = SegmentWalk.open(segment);
  if (!walk) return {};
  const found = (pos: number): TransactionEnd | null => {
    const time = transactionTime(walk.recordBytes(pos), pgVersion);
    return time === null ? null : { time: formatPgTime(time), lsn: formatLsn(walk.lsnAt(pos)) };
  };
  let first: TransactionEnd | null = null;
  let firstPage = 0;
  walk.ends(0, walk.pages, (pos) => {
    first = found(pos);
    firstPage = Math.floor(pos / walk.pageSize);
    return first !== null;
  });
  if (!first) return {};
  for (let end = walk.pages; end > firstPage;) {
    const start = Math.max(firstPage, end - CHUNK_PAGES);
    let last: TransactionEnd | null = null;
    walk.ends(start, end, (pos) => {
      last = found(pos) ?? last;
      return false;
    });
    if (last) return { first, last };
    end = start;
  }
  return { first, last: first };
}

/** µs since 2000-01-01 as ISO 8601 with six decimals. */
export function formatPgTime(micros: bigint): string {
  const ms = micros / 1000n;
  const rest = Number(micros - ms * 1000n);
  const iso = new Date(Number(ms) + PG_EPOCH_MS).toISOString(); // ...ss.mmmZ
  return `${iso.slice(0, -1)}${String(rest).padStart(3, '0')}Z`;
}

/** Microseconds since the Unix epoch of an ISO 8601 UTC time with up to six decimals (as formatPgTime writes). */
export function isoMicros(iso: string): bigint {
  const m = /^(.*?)(?:\.(\d{1,6}))?Z$/.exec(iso);
  if (!m) throw new RangeError(`not an ISO UTC time: ${iso}`);
  const seconds = BigInt(Date.parse(`${m[1]}Z`)) / 1000n;
  return seconds * 1_000_000n + BigInt((m[2] ?? '').padEnd(6, '0'));
}

/** xact_time of a commit/abort record (whole record bytes), or null when the record does not parse. */
function transactionTime(rec: Buffer | null, pgVersion: number): bigint | null {
  if (!rec) return null;
  const total = rec.length;
  let p = RECORD_HEADER;
  let mainLength = 0;
  while (p < total) {
    const id = rec[p]!;
    if (id === BLOCK_ID_DATA_SHORT) {
      mainLength = rec[p + 1] ?? 0;
      p += 2;
      break;
    }
    if (id === BLOCK_ID_DATA_LONG) {
      if (p + 5 > total) return null;
      mainLength = rec.readUInt32LE(p + 1);
      p += 5;
      break;
    }
    if (id === BLOCK_ID_ORIGIN) p += 3;
    else if (id === BLOCK_ID_TOPLEVEL_XID) p += 5;
    else if (id <= MAX_BLOCK_ID) p = afterBlockHeader(rec, p, pgVersion);
    else return null;
  }
  // Main data is the record's last bytes, after the block data.
  if (mainLength < 8 || total - mainLength < p) return null;
  return rec.readBigInt64LE(total - mainLength);
}

/** XLogRecordBlockHeader, then its image header, compression header and RelFileLocator when present, then the block number. */
function afterBlockHeader(rec: Buffer, p: number, pgVersion: number): number {
  const forkFlags = rec[p + 1] ?? 0;
  p += 4;
  if (forkFlags & BKPBLOCK_HAS_IMAGE) {
    const bimgInfo = rec[p + 4] ?? 0;
    p += 5;
    // 15 split BKPIMAGE_IS_COMPRESSED (0x02) into one bit per method (0x04 pglz, 0x08 lz4, 0x10 zstd).
    const compressed = pgVersion >= 15 ? bimgInfo & 0x1c : bimgInfo & 0x02;
    if (bimgInfo & BKPIMAGE_HAS_HOLE && compressed) p += 2;
  }
  if (!(forkFlags & BKPBLOCK_SAME_REL)) p += 12;
  return p + 4;
}

/** Walks the records of one segment across page headers. */
class SegmentWalk {
  readonly pages: number;
  /** pageSize - 1: `pos & mask` is the offset in the page (a power of 2), faster than % in the record loop. */
  private readonly mask: number;
  /** The segment as 32-bit words, when aligned and little-endian: one load per field instead of four. */
  private readonly words: Uint32Array | null;
  private readonly magic: number;
  private readonly startLow: number;
  private readonly startHigh: number;

  static open(seg: Buffer): SegmentWalk | null {
    if (seg.length < LONG_HEADER || !(seg.readUInt16LE(2) & XLP_LONG_HEADER)) return null;
    const pageSize = seg.readUInt32LE(36);
    if (pageSize < 1024 || (pageSize & (pageSize - 1)) !== 0 || seg.length % pageSize !== 0) return null; // XLOG_BLCKSZ: a power of 2
    return new SegmentWalk(seg, pageSize);
  }

  private constructor(
    private readonly seg: Buffer,
    readonly pageSize: number,
  ) {
    this.pages = seg.length / pageSize;
    this.mask = pageSize - 1;
    this.words = LITTLE_ENDIAN && seg.byteOffset % 4 === 0 ? new Uint32Array(seg.buffer, seg.byteOffset, seg.length >> 2) : null;
    this.magic = seg.readUInt16LE(0);
    this.startLow = seg.readUInt32LE(8);
    this.startHigh = seg.readUInt32LE(12);
  }

  lsnAt(pos: number): bigint {
    return ((BigInt(this.startHigh) << 32n) | BigInt(this.startLow)) + BigInt(pos);
  }

  /**
   * Calls `onEnd` with the position of each commit/abort record that begins on pages
   * [fromPage, toPage), in order, until it returns true or the segment's records end.
   */
  ends(fromPage: number, toPage: number, onEnd: (pos: number) => boolean): void {
    const { seg, pageSize, mask } = this;
    const limit = toPage * pageSize;
    let pos = this.firstRecordFrom(fromPage, toPage);
    let prev = -1;
    while (pos >= 0 && pos < limit) {
      if ((pos & mask) === 0) {
        if (pos >= seg.length || !this.pageOk(pos)) return;
        // A record ending flush with a page leaves no continuation for the next one.
        if (this.u16(pos + 2) & XLP_FIRST_IS_CONTRECORD) return;
        pos += SHORT_HEADER;
      }
      const total = this.u32(pos); // never split: records are MAXALIGNed
      if (total < RECORD_HEADER) return; // zeroes: the end of the WAL written
      const inPage = (pos & mask) + RECORD_HEADER <= pageSize;
      const header = inPage ? null : this.gather(pos, RECORD_HEADER);
      if (!inPage && !header) return;
      // xl_prev (after xl_tot_len and xl_xid) in 32-bit halves: BigInt per record would cost
      // more than the rest. A segment's low half plus an offset in it stays below 2^32.
      const prevLow = header ? header.readUInt32LE(8) : this.u32(pos + 8);
      const prevHigh = header ? header.readUInt32LE(12) : this.u32(pos + 12);
      if (prev >= 0) {
        if (prevHigh !== this.startHigh || prevLow !== this.startLow + prev) return;
      } else if (prevHigh > this.startHigh || (prevHigh === this.startHigh && prevLow >= this.startLow + pos)) {
        return; // the first record walked must point back before itself
      }
      const info = header ? header[16]! : seg[pos + 16]!;
      const rmid = header ? header[17]! : seg[pos + 17]!;
      const next = (pos & mask) + total <= pageSize ? pos + total : this.advance(pos, total);
      if (next < 0) return; // continues in the next segment
      if (rmid === RM_XACT && isEnd(info) && onEnd(pos)) return;
      if (rmid === RM_XLOG && (info & 0xf0) === XLOG_SWITCH) return; // the rest of the segment is unused
      prev = pos;
      pos = (next + 7) & ~7;
    }
  }

  /** The whole record at `pos` (known to end in the segment); null when a page between is not this segment's. */
  recordBytes(pos: number): Buffer | null {
    const total = this.u32(pos);
    if ((pos % this.pageSize) + total <= this.pageSize) return this.seg.subarray(pos, pos + total);
    return this.gather(pos, total);
  }

  /** Where the first record that begins on pages [page, toPage) starts; -1 for none. */
  private firstRecordFrom(page: number, toPage: number): number {
    for (; page < toPage; page++) {
      const at = page * this.pageSize;
      if (!this.pageOk(at)) return -1;
      const flags = this.u16(at + 2);
      const header = flags & XLP_LONG_HEADER ? LONG_HEADER : SHORT_HEADER;
      const rest = flags & XLP_FIRST_IS_CONTRECORD ? this.u32(at + 16) : 0;
      if (header + rest < this.pageSize) return (at + header + rest + 7) & ~7;
    }
    return -1;
  }

  /** Where `n` bytes of record from `pos` end, past the page headers between; -1 past the segment or at a page that does not continue it. */
  private advance(pos: number, n: number): number {
    const { pageSize } = this;
    let left = n;
    for (;;) {
      const room = pageSize - (pos % pageSize);
      if (left <= room) return pos + left;
      left -= room;
      pos += room;
      if (pos >= this.seg.length || !this.pageOk(pos)) return -1;
      const flags = this.u16(pos + 2);
      if (!(flags & XLP_FIRST_IS_CONTRECORD) || this.u32(pos + 16) !== left) return -1;
      pos += flags & XLP_LONG_HEADER ? LONG_HEADER : SHORT_HEADER;
    }
  }

  /** `n` bytes of record from `pos`, without the page headers between. */
  private gather(pos: number, n: number): Buffer | null {
    const out = Buffer.allocUnsafe(n);
    let done = 0;
    while (done < n) {
      if (pos % this.pageSize === 0) {
        if (pos >= this.seg.length || !this.pageOk(pos)) return null;
        pos += this.u16(pos + 2) & XLP_LONG_HEADER ? LONG_HEADER : SHORT_HEADER;
      }
      const take = Math.min(n - done, this.pageSize - (pos % this.pageSize));
      this.seg.copy(out, done, pos, pos + take);
      done += take;
      pos += take;
    }
    return out;
  }

  /** The page at `pos` is this segment's: same magic, its own address (a recycled file's old pages carry old ones). */
  private pageOk(pos: number): boolean {
    return this.u16(pos) === this.magic && this.u32(pos + 12) === this.startHigh && this.u32(pos + 8) === this.startLow + pos;
  }

  /** At a 4-aligned offset. */
  private u32(at: number): number {
    const w = this.words;
    if (w) return w[at >> 2]!;
    const b = this.seg;
    return (b[at]! | (b[at + 1]! << 8) | (b[at + 2]! << 16) | (b[at + 3]! << 24)) >>> 0;
  }

  private u16(at: number): number {
    return this.seg[at]! | (this.seg[at + 1]! << 8);
  }
}
