import { describe, expect, it } from 'vitest';
import { IntegrityError } from '../../src/errors.js';
import { parseLsn } from '../../src/wal/names.js';
import { requiredSegments, segmentFileName, segmentNumberOfName } from '../../src/wal/segments.js';
import { isOnHistory, parseTimelineHistory, rootHistory, timelineOf } from '../../src/wal/timeline-history.js';

const SEG = 16 * 1024 * 1024;
const lsn = (t: string) => parseLsn(t)!;

// Timeline 3: 1 switched to 2 at 0/5000028, 2 switched to 3 at 0/8A00100.
const HISTORY_3 = '1\t0/5000028\tno recovery target specified\n\n2\t0/8A00100\tbefore 2026-11-21 14:02:59+00\n';

describe('timeline history', () => {
  it('parses ancestors into contiguous spans', () => {
    expect(parseTimelineHistory(3, HISTORY_3)).toEqual([
      { timeline: 1, begin: 0n, end: lsn('0/5000028') },
      { timeline: 2, begin: lsn('0/5000028'), end: lsn('0/8A00100') },
      { timeline: 3, begin: lsn('0/8A00100'), end: null },
    ]);
  });

  it('answers which timeline holds an LSN and whether a backup lies on the history', () => {
    const h = parseTimelineHistory(3, HISTORY_3);
    expect(timelineOf(h, lsn('0/4000000'))).toBe(1);
    expect(timelineOf(h, lsn('0/5000028'))).toBe(2);
    expect(timelineOf(h, lsn('1/0'))).toBe(3);
    expect(isOnHistory(h, 1, lsn('0/3000028'))).toBe(true);
    // A backup taken on timeline 1 after it was abandoned is not in timeline 3's past.
    expect(isOnHistory(h, 1, lsn('0/6000028'))).toBe(false);
    expect(isOnHistory(rootHistory(1), 1, lsn('5/0'))).toBe(true);
  });

  it('refuses damaged history files', () => {
    expect(() => parseTimelineHistory(3, '2\t0/5000028\tx\n1\t0/6000000\ty\n')).toThrow(IntegrityError);
    expect(() => parseTimelineHistory(2, '1\tnot-an-lsn\tx\n')).toThrow(IntegrityError);
    expect(() => parseTimelineHistory(2, '1\t0/5000000\tx\n2\t0/6000000\ty\n')).toThrow(IntegrityError);
  });
});

describe('required segments', () => {
  it('names segments across log boundaries', () => {
    expect(segmentFileName(1, 0x1ffn, SEG)).toBe('0000000100000001000000FF');
    expect(segmentNumberOfName('0000000100000001000000FF', SEG)).toBe(0x1ffn);
  });

  it('follows the history: each segment from the newest timeline that had begun by it', () => {
    const h = parseTimelineHistory(3, HISTORY_3);
    expect(requiredSegments(h, lsn('0/3000028'), lsn('0/9000000'), SEG)).toEqual([
      '000000010000000000000003',
      '000000010000000000000004',
      '000000020000000000000005', // holds the 1 -> 2 switch: read from timeline 2
      '000000020000000000000006',
      '000000020000000000000007',
      '000000030000000000000008', // holds the 2 -> 3 switch
      '000000030000000000000009',
    ]);
  });
});
