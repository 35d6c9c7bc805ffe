// Reads the long page header at the start of every WAL segment (XLogLongPageHeaderData in
// PostgreSQL's access/xlog_internal.h). It names the cluster (system identifier) and the
// segment's own address, which lets wal-push bind a repository to a cluster and refuse a
// segment from another cluster, or a file renamed to the wrong segment name.
import { InputError } from '../errors.js';
import { formatLsn, segmentStartLsn, type WalFileName } from './names.js';

/** XLOG_PAGE_MAGIC per PostgreSQL major version. */
const PAGE_MAGIC: Record<number, number> = {
  0xd106: 13,
  0xd10d: 14,
  0xd110: 15,
  0xd113: 16,
  0xd116: 17,
  0xd118: 18,
};
const XLP_LONG_HEADER = 0x0002;
export const LONG_HEADER_BYTES = 40;

export interface SegmentHeader {
  pgVersion: number;
  systemIdentifier: string;
  segmentSize: number;
  pageAddress: bigint;
}

export function readSegmentHeader(data: Buffer, what: string): SegmentHeader {
  if (data.length < LONG_HEADER_BYTES) throw new InputError(`${what} is too short to be a WAL segment (${data.length} bytes)`);
  const magic = data.readUInt16LE(0);
  const pgVersion = PAGE_MAGIC[magic];
  if (pgVersion === undefined) {
    throw new InputError(`${what} is not a WAL segment pitr knows (page magic 0x${magic.toString(16)}): PostgreSQL 13-18 are supported`);
  }
  if ((data.readUInt16LE(2) & XLP_LONG_HEADER) === 0) throw new InputError(`${what} does not start with a long WAL page header`);
  return {
    pgVersion,
    pageAddress: data.readBigUInt64LE(8),
    systemIdentifier: data.readBigUInt64LE(24).toString(),
    segmentSize: data.readUInt32LE(32),
  };
}

/** Checks that the segment's content matches its name and size: catches renamed or truncated files. */
export function checkSegmentMatchesName(header: SegmentHeader, file: WalFileName, size: number, what: string): void {
  if (size !== header.segmentSize) {
    throw new InputError(
      `${what} is ${size} bytes but its header says segments are ${header.segmentSize} bytes: the file is truncated or damaged`,
    );
  }
  const expected = segmentStartLsn(file, header.segmentSize);
  if (header.pageAddress !== expected) {
    throw new InputError(
      `${what} holds WAL from ${formatLsn(header.pageAddress)} but its name says ${formatLsn(expected)}: refusing to archive a misnamed file`,
    );
  }
}
