// The timeline branches a repository holds: the timeline each one forked from and the LSN
// where (its .history file), and how far each was archived. A restored copy that archived
// into the repository it came from appears here as a branch beside the primary's timeline,
// with the point where the two histories part: restore --latest following the newer branch
// is then something the operator can see, not a silent loss of the primary's later WAL. Pure.
import { formatLsn, parseLsn } from '../wal/names.js';
import { segmentNumberOfName } from '../wal/segments.js';
import type { TimelineSpan } from '../wal/timeline-history.js';
import type { WalView } from './wal-inventory.js';

export interface TimelineFork {
  /** The timeline forked off, and the LSN where it did. */
  timeline: number;
  lsn: string;
  /** This timeline's archived WAL goes on past the fork point: two histories from there. */
  wentOnPast: boolean;
}

export interface TimelineBranch {
  timeline: number;
  /** The timeline this one forked from and where (the last line of its .history file); null without one. */
  parent: number | null;
  forkLsn: string | null;
  /** Its newest archived segment, the LSN where that segment ends, and when it was stored (null: no segment archived). */
  lastSegment: string | null;
  archivedTo: string | null;
  lastArchivedAt: string | null;
  /** The timelines forked from this one. */
  forks: TimelineFork[];
}

/** Every timeline that has WAL or a history file archived, oldest first. */
export function timelineBranches(wal: WalView, histories: Map<number, TimelineSpan[]>, segmentSize: number): TimelineBranch[] {
  const branches: TimelineBranch[] = wal.timelines.map((t) => {
    const spans = histories.get(t.timeline);
    const parentSpan = spans && spans.length > 1 ? spans[spans.length - 2]! : undefined;
    const end = t.last === null ? null : (segmentNumberOfName(t.last, segmentSize) + 1n) * BigInt(segmentSize);
    return {
      timeline: t.timeline,
      parent: parentSpan?.timeline ?? null,
      forkLsn: parentSpan?.end != null ? formatLsn(parentSpan.end) : null,
      lastSegment: t.last,
      archivedTo: end === null ? null : formatLsn(end),
      lastArchivedAt: t.last === null ? null : (wal.archivedAt.get(t.last)?.toISOString() ?? null),
      forks: [],
    };
  });
  const byTimeline = new Map(branches.map((b) => [b.timeline, b]));
  for (const child of branches) {
    const parent = child.parent === null ? undefined : byTimeline.get(child.parent);
    if (parent && child.forkLsn !== null)
      parent.forks.push({ timeline: child.timeline, lsn: child.forkLsn, wentOnPast: archivedPast(parent, child.forkLsn) });
  }
  return branches;
}

/**
 * True when `branch` has WAL archived beyond `lsn`. Its newest segment is stored whole, so the
 * WAL it holds reaches that segment's end: a timeline that only led up to a fork (a failover)
 * ends at or before the fork point; one a restored copy forked off while its own server kept
 * writing goes on past it.
 */
export function archivedPast(branch: TimelineBranch, lsn: string): boolean {
  return branch.archivedTo !== null && parseLsn(branch.archivedTo)! > parseLsn(lsn)!;
}

/** How far a branch was archived, for messages: "archived to 0/9000000 (segment X, stored T)". */
export function describeArchived(branch: TimelineBranch): string {
  return branch.archivedTo === null
    ? 'no segment archived'
    : `archived to ${branch.archivedTo} (${branch.lastSegment}${branch.lastArchivedAt ? `, stored ${branch.lastArchivedAt}` : ''})`;
}

/** The lines `pitr list` prints under a timeline: where it forked from, how far it was archived, and the forks off it. */
export function describeBranch(branch: TimelineBranch): string[] {
  const lines: string[] = [];
  if (branch.parent !== null) lines.push(`    forked from timeline ${branch.parent} at ${branch.forkLsn}`);
  lines.push(`    ${describeArchived(branch)}`);
  for (const fork of branch.forks) {
    lines.push(
      fork.wentOnPast
        ? `    timeline ${fork.timeline} forked off at ${fork.lsn}, and timeline ${branch.timeline} went on past it: two histories from there ` +
            `(restore --timeline ${fork.timeline} follows that branch, --timeline ${branch.timeline} this one)`
        : `    timeline ${fork.timeline} forked off at ${fork.lsn}, where timeline ${branch.timeline}'s archived WAL ends`,
    );
  }
  return lines;
}
