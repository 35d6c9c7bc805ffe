// Segment numbers and names, and which archived file covers each segment of a timeline
// history. Pure.
import { hex8 } from './names.js';
import type { TimelineSpan } from './timeline-history.js';

export function segmentNumber(lsn: bigint, segmentSize: number): bigint {
  return lsn / BigInt(segmentSize);
}

export function segmentFileName(timeline: number, segno: bigint, segmentSize: number): string {
  const perLog = BigInt(0x100000000 / segmentSize);
  return `${hex8(timeline)}${hex8(segno / perLog)}${hex8(segno % perLog)}`;
}

/** The segment number a segment file name stands for. */
export function segmentNumberOfName(name: string, segmentSize: number): bigint {
  const perLog = BigInt(0x100000000 / segmentSize);
  return BigInt(`0x${name.slice(8, 16)}`) * perLog + BigInt(`0x${name.slice(16, 24)}`);
}

/**
 * The segment files recovery reads to replay from `start` to `end` (both inclusive) along
 * `history`. As PostgreSQL does (XLogFileReadAnyTLI), each segment comes from the newest
 * timeline that had begun by that segment: the segment holding a switch point is read from
 * the new timeline, whose first segment starts as a copy of the old one.
 */
export function requiredSegments(history: TimelineSpan[], start: bigint, end: bigint, segmentSize: number): string[] {
  const names: string[] = [];
  for (let segno = segmentNumber(start, segmentSize); segno <= segmentNumber(end, segmentSize); segno++) {
    names.push(segmentOnHistory(history, segno, segmentSize));
  }
  return names;
}

/** The file recovery reads for segment `segno` along `history` (see requiredSegments). */
export function segmentOnHistory(history: TimelineSpan[], segno: bigint, segmentSize: number): string {
  let timeline = history[0]!.timeline;
  for (const span of history) if (segmentNumber(span.begin, segmentSize) <= segno) timeline = span.timeline;
  return segmentFileName(timeline, segno, segmentSize);
}
