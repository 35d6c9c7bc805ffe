import { describe, expect, it } from 'vitest';
import { describeBranch, timelineBranches } from '../../src/repository/timeline-branches.js';
import { summariseWal } from '../../src/repository/wal-inventory.js';
import { parseTimelineHistory } from '../../src/wal/timeline-history.js';

const SEG = 16 * 1024 * 1024;
const seg = (tli: number, n: number) => `0000000${tli}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`;
const at = (minute: number) => new Date(Date.UTC(2026, 10, 21, 12, minute));

/**
 * The scenario: the primary archives timeline 1 through segment 9 (segment N stored at
 * 12:00 + 2N minutes); a restored copy forked timeline 2 off it at 0/5000000 and archived
 * segments 5 and 6 of its own (stored 12:11 and 12:12) before it stopped.
 */
function forkedRepository() {
  const names = [...[2, 3, 4, 5, 6, 7, 8, 9].map((n) => seg(1, n)), '00000002.history', seg(2, 5), seg(2, 6)];
  const wal = summariseWal(names, SEG);
  for (const n of [2, 3, 4, 5, 6, 7, 8, 9]) wal.archivedAt.set(seg(1, n), at(2 * n));
  wal.archivedAt.set(seg(2, 5), at(11));
  wal.archivedAt.set(seg(2, 6), at(12));
  const histories = new Map([[2, parseTimelineHistory(2, '1\t0/5000000\tno recovery target specified\n')]]);
  return { wal, histories, branches: timelineBranches(wal, histories, SEG) };
}

describe('timeline branches', () => {
  it('names each timeline’s parent and fork point, how far it was archived, and a parent that went on past a fork', () => {
    const { branches } = forkedRepository();
    expect(branches).toEqual([
      {
        timeline: 1,
        parent: null,
        forkLsn: null,
        lastSegment: seg(1, 9),
        archivedTo: '0/A000000',
        lastArchivedAt: at(18).toISOString(),
        forks: [{ timeline: 2, lsn: '0/5000000', wentOnPast: true }],
      },
      {
        timeline: 2,
        parent: 1,
        forkLsn: '0/5000000',
        lastSegment: seg(2, 6),
        archivedTo: '0/7000000',
        lastArchivedAt: at(12).toISOString(),
        forks: [],
      },
    ]);
    expect(describeBranch(branches[0]!)).toContain(
      '    timeline 2 forked off at 0/5000000, and timeline 1 went on past it: two histories from there (restore --timeline 2 follows that branch, --timeline 1 this one)',
    );
    expect(describeBranch(branches[1]!)).toEqual([
      '    forked from timeline 1 at 0/5000000',
      `    archived to 0/7000000 (${seg(2, 6)}, stored ${at(12).toISOString()})`,
    ]);
  });

  it('does not call a failover a fork with two histories: the old timeline ends where the new one begins', () => {
    const wal = summariseWal([seg(1, 3), seg(1, 4), '00000002.history', seg(2, 5)], SEG);
    const histories = new Map([[2, parseTimelineHistory(2, '1\t0/5000000\tend of WAL\n')]]);
    expect(timelineBranches(wal, histories, SEG)[0]!.forks).toEqual([{ timeline: 2, lsn: '0/5000000', wentOnPast: false }]);
  });
});
