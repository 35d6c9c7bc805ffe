// status's gap in the restorable window's WAL: archived WAL that replay from the window
// cannot reach, on the history replay follows, and nothing on branches it does not follow.
import { describe, expect, it } from 'vitest';
import { summariseWal } from '../../src/repository/wal-inventory.js';
import { archivedReach } from '../../src/repository/restorable-window.js';
import { windowGap } from '../../src/status/status.js';
import { parseTimelineHistory, type TimelineSpan } from '../../src/wal/timeline-history.js';
import { SEG, segmentName as seg, testBackup } from '../support/backups.js';

const lsn = (n: number) => `0/${(n * SEG + 0x28).toString(16).toUpperCase()}`;
/** Timeline `tli` forked from `parent` inside segment `n`. */
const forked = (tli: number, parent: number, n: number): [number, TimelineSpan[]] => [
  tli,
  parseTimelineHistory(tli, `${parent}\t${lsn(n)}\tno reason\n`),
];

describe('gap in the restorable window', () => {
  it('none when the window reaches the newest segment', () => {
    const wal = summariseWal(
      [2, 3, 4, 5, 6].map((n) => seg(1, n)),
      SEG,
    );
    expect(windowGap(seg(1, 6), wal, new Map(), SEG)).toBeNull();
  });

  it('names a missing segment after which WAL is archived, with the window that stops before it', () => {
    const wal = summariseWal(
      [2, 3, 5, 6].map((n) => seg(1, n)),
      SEG,
    );
    for (const n of [2, 3, 5, 6]) wal.archivedAt.set(seg(1, n), new Date(`2026-12-05T00:00:0${n}Z`));
    const window = archivedReach([testBackup('b', 2, 2, '2026-12-05T00:00:02Z')], wal, new Map(), SEG)!;
    expect(window.lastWal).toBe(seg(1, 3));
    expect(windowGap(window.lastWal, wal, new Map(), SEG)).toEqual({
      after: seg(1, 3),
      missingFrom: seg(1, 4),
      missingTo: seg(1, 4),
      archivedThrough: seg(1, 6),
    });
  });

  it('names the whole run of missing segments', () => {
    const wal = summariseWal(
      [2, 3, 7].map((n) => seg(1, n)),
      SEG,
    );
    expect(windowGap(seg(1, 3), wal, new Map(), SEG)).toMatchObject({
      missingFrom: seg(1, 4),
      missingTo: seg(1, 6),
      archivedThrough: seg(1, 7),
    });
  });

  it('follows a later timeline that branched after the window ends', () => {
    const wal = summariseWal([...[2, 3, 4].map((n) => seg(1, n)), seg(2, 8), seg(2, 9), '00000002.history'], SEG);
    const histories = new Map([forked(2, 1, 8)]);
    expect(windowGap(seg(1, 4), wal, histories, SEG)).toEqual({
      after: seg(1, 4),
      missingFrom: seg(1, 5),
      missingTo: seg(1, 7),
      archivedThrough: seg(2, 9),
    });
  });

  it('ignores the abandoned rest of a parent timeline and a branch replay does not follow', () => {
    // Timeline 1 went on after timeline 2 forked from it; timeline 3 forked from 1 earlier than the window's timeline 2.
    const names = [...[2, 3, 4, 5, 6, 7, 8].map((n) => seg(1, n)), seg(2, 5), seg(2, 6), ...[3, 4, 5, 6, 7, 8, 9].map((n) => seg(3, n))];
    const wal = summariseWal([...names, '00000002.history', '00000003.history'], SEG);
    const histories = new Map([forked(2, 1, 5), forked(3, 1, 3)]);
    expect(windowGap(seg(2, 6), wal, histories, SEG)).toBeNull();
  });
});
