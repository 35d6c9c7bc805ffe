import { describe, expect, it } from 'vitest';
import { testBackup } from '../support/backups.js';
import { NotFoundError } from '../../src/errors.js';
import { describeBranch, timelineBranches } from '../../src/repository/timeline-branches.js';
import { summariseWal } from '../../src/repository/wal-inventory.js';
import { describeBranchChoice, explainBranch, planAcrossBranches } from '../../src/restore/branch-choice.js';
import type { PlanInput } from '../../src/restore/plan.js';
import { parseTargetTime, type RecoveryTarget, type TimelineChoice } from '../../src/restore/target.js';
import { parseTimelineHistory } from '../../src/wal/timeline-history.js';

const SEG = 16 * 1024 * 1024;
const seg = (tli: number, n: number) => `0000000${tli}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`;
const at = (minute: number) => new Date(Date.UTC(2026, 10, 21, 12, minute));

const BACKUP = testBackup('20261121T120000Z-aaaa', 2, 2, '2026-11-21T12:04:30Z', { label: 'x', startTime: '2026-11-21T12:04:00Z' });

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

function input(target: RecoveryTarget, timeline: TimelineChoice = 'latest'): PlanInput {
  const { wal, histories } = forkedRepository();
  return { backups: [BACKUP], wal, histories, segmentSize: SEG, target, timeline, repo: 'file:///repo/' };
}
const time = (t: string): RecoveryTarget => ({ kind: 'time', time: parseTargetTime(t) });

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

describe('restore across timeline branches', () => {
  it('says which branch it follows and why, and names the branch it leaves aside', () => {
    const { branches, histories } = forkedRepository();
    const plan = planAcrossBranches(input({ kind: 'latest' }), branches);
    expect(plan.timeline).toBe(2);
    expect(describeBranchChoice(explainBranch(plan, 'latest', branches, histories))).toEqual([
      'following timeline 2 (forked from 1 at 0/5000000): the newest timeline, --timeline latest',
      `not following timeline 1 past 0/5000000, where timeline 2 leaves it, archived to 0/A000000 (${seg(1, 9)}, stored ${at(18).toISOString()}): --timeline 1 follows it`,
    ]);
    const one = planAcrossBranches(input({ kind: 'latest' }, 1), branches);
    expect(describeBranchChoice(explainBranch(one, 1, branches, histories))).toEqual([
      'following timeline 1: --timeline 1',
      `not following timeline 2, forked from 1 at 0/5000000, archived to 0/7000000 (${seg(2, 6)}, stored ${at(12).toISOString()}): --timeline 2 follows it`,
    ]);
  });

  it('names --timeline N when only another branch reaches a time after the fork', () => {
    const { branches } = forkedRepository();
    // 12:15:30 is after timeline 2 stopped archiving (12:12); timeline 1 reaches it (segment 8 stored 12:16).
    const target = time('2026-11-21 12:15:30Z');
    let refusal: unknown;
    try {
      planAcrossBranches(input(target), branches);
    } catch (err) {
      refusal = err;
    }
    expect(refusal).toBeInstanceOf(NotFoundError);
    expect((refusal as Error).message).toMatch(
      /^time 2026-11-21 12:15:30\+00:00 is not reachable along the newest timeline \(--timeline latest\) but is on another branch, timeline 1, archived to 0\/A000000 .*: restore with --timeline 1$/,
    );
    expect(planAcrossBranches(input(target, 1), branches)).toMatchObject({ timeline: 1, lastSegment: seg(1, 9) });
    // When no branch reaches it, the refusal is the plan's own.
    expect(() => planAcrossBranches(input(time('2026-11-21 13:00:00Z')), branches)).toThrow(/is older than .* not archived yet/);
  });
});
