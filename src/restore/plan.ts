// Plans a restore before anything is written: which backup, which timeline, and whether the
// repository holds every WAL segment recovery will read. Pure: the caller loads the
// manifests, the WAL inventory and the timeline histories.
//
// The rules follow PostgreSQL's own recovery:
// - recovery_target_timeline 'latest' is the end of the run of history files above the
//   backup's timeline (findNewestTimeLine probes tli+1, tli+2, ... until one is missing);
// - a backup can be replayed into a timeline only if it ended on that timeline's history;
// - each segment is read from the newest timeline that had begun by it (XLogFileReadAnyTLI);
// - replay stops at the first missing segment, so a gap ends recovery there.
import type { BackupManifest } from '../backup/manifest.js';
import { InputError, NotFoundError } from '../errors.js';
import type { WalInventory } from '../repository/wal-inventory.js';
import { formatLsn, historyFileName, parseLsn } from '../wal/names.js';
import { segmentNumber, segmentNumberOfName, segmentOnHistory } from '../wal/segments.js';
import { describeHistory, isOnHistory, rootHistory, type TimelineSpan } from '../wal/timeline-history.js';
import { describeTarget, type RecoveryTarget, type TimelineChoice } from './target.js';

export interface PlanInput {
  /** Complete backups, in any order. */
  backups: BackupManifest[];
  wal: WalInventory;
  /** Parsed .history files by timeline. */
  histories: Map<number, TimelineSpan[]>;
  segmentSize: number;
  target: RecoveryTarget;
  timeline: TimelineChoice;
  backupId?: string;
  /** The repository, for messages. */
  repo: string;
}

export interface RestorePlan {
  backup: BackupManifest;
  /** The timeline recovery follows (recovery_target_timeline). */
  timeline: number;
  history: TimelineSpan[];
  /** The archived segments replay reads: from the backup's start to the newest one reachable. */
  firstSegment: string;
  lastSegment: string;
  segmentCount: number;
}

export function planRestore(input: PlanInput): RestorePlan {
  const { backup, timeline, history } = chooseBackup(input);
  const chain = checkWal(input, backup, history);
  return { backup, timeline, history, ...chain };
}

function chooseBackup(input: PlanInput): { backup: BackupManifest; timeline: number; history: TimelineSpan[] } {
  const { backups, target, repo } = input;
  if (backups.length === 0) throw new NotFoundError(`no complete backup in ${repo}: take one with "pitr backup"`);
  const newestFirst = [...backups].sort((a, b) => (a.id < b.id ? 1 : -1));
  const candidates = input.backupId ? newestFirst.filter((b) => b.id === input.backupId) : newestFirst;
  if (candidates.length === 0) throw new NotFoundError(`backup ${input.backupId} is not in ${repo}: "pitr list" shows the complete backups`);

  const offTimeline: string[] = [];
  for (const backup of candidates) {
    const timeline = resolveTimeline(input, backup);
    const history = historyOf(input, timeline, backup);
    const onHistory = isOnHistory(history, backup.timeline, parseLsn(backup.stopLsn)!);
    const fits = endsBeforeTarget(backup, target);
    if (onHistory && fits) return { backup, timeline, history };
    if (input.backupId) {
      throw new InputError(
        onHistory
          ? `backup ${backup.id} ended at ${backup.stopTime} (LSN ${backup.stopLsn}), after the target ${describeTarget(target)}: choose an older backup or a later target`
          : `backup ${backup.id} (timeline ${backup.timeline}, LSN ${backup.stopLsn}) is not on the history of timeline ${timeline} (${describeHistory(history)}): choose --timeline ${backup.timeline} or another backup`,
      );
    }
    if (fits) offTimeline.push(`${backup.id} (timeline ${backup.timeline})`);
  }
  if (offTimeline.length > 0) {
    const choice = input.timeline === 'latest' ? 'the latest timeline' : `timeline ${input.timeline}`;
    throw new InputError(`no backup before the target lies on the history of ${choice}; candidates ${offTimeline.join(', ')} branch off it: choose --timeline`);
  }
  const oldest = newestFirst.at(-1)!;
  throw new InputError(
    `${describeTarget(target)} is before the end of the oldest backup (${oldest.id}, ended ${oldest.stopTime} at LSN ${oldest.stopLsn}): ` +
      'a restore can reach only points after a backup ended',
  );
}

function resolveTimeline(input: PlanInput, backup: BackupManifest): number {
  if (input.timeline === 'current') return backup.timeline;
  if (typeof input.timeline === 'number') return input.timeline;
  let newest = backup.timeline;
  while (input.histories.has(newest + 1)) newest++;
  return newest;
}

function historyOf(input: PlanInput, timeline: number, backup: BackupManifest): TimelineSpan[] {
  const history = input.histories.get(timeline);
  if (history) return history;
  if (timeline === backup.timeline || timeline === 1) return rootHistory(timeline);
  throw new NotFoundError(`timeline ${timeline} has no history file (${historyFileName(timeline)}) in ${input.repo}: "pitr list" shows the timelines`);
}

function endsBeforeTarget(backup: BackupManifest, target: RecoveryTarget): boolean {
  switch (target.kind) {
    case 'time':
      return new Date(backup.stopTime).getTime() <= target.time.date.getTime();
    case 'lsn':
      return parseLsn(backup.stopLsn)! <= target.lsn;
    case 'xid':
      return backup.xminAfterStop === undefined || xidNotBefore(target.xid, backup.xminAfterStop);
    default:
      // A restore point's position is unknown without reading WAL; the newest backup is the
      // one most likely to precede it (pass --backup for an older one).
      return true;
  }
}

/** `xid` is `xmin` or later, in PostgreSQL's circular 32-bit order when either is 32-bit. */
export function xidNotBefore(xid: string, xmin: string): boolean {
  const a = BigInt(xid);
  const b = BigInt(xmin);
  if (a > 0xffffffffn && b > 0xffffffffn) return a >= b;
  const diff = ((a & 0xffffffffn) - (b & 0xffffffffn)) & 0xffffffffn;
  return diff < 0x80000000n;
}

/** Walks the archived segments from the backup's start along the history and checks the target is reachable. */
function checkWal(input: PlanInput, backup: BackupManifest, history: TimelineSpan[]): Omit<RestorePlan, 'backup' | 'timeline' | 'history'> {
  const { wal, segmentSize, target } = input;
  const name = (segno: bigint) => segmentOnHistory(history, segno, segmentSize);
  const first = segmentNumber(parseLsn(backup.startLsn)!, segmentSize);
  let last = first - 1n;
  while (wal.segments.has(name(last + 1n))) last++;
  const next = name(last + 1n);
  const result = (end: bigint) => ({ firstSegment: name(first), lastSegment: name(end), segmentCount: Number(end - first + 1n) });

  const stop = segmentNumber(parseLsn(backup.stopLsn)!, segmentSize);
  if (last < stop) {
    throw new NotFoundError(`the WAL of backup ${backup.id} is incomplete in ${input.repo}: ${next} is missing, so the backup cannot be made consistent; choose another backup`);
  }
  // An archived segment on this history after the first missing one means a gap.
  let beyond: bigint | null = null;
  for (const archived of wal.segments) {
    const segno = segmentNumberOfName(archived, segmentSize);
    if (segno > last + 1n && (beyond === null || segno < beyond) && name(segno) === archived) beyond = segno;
  }
  const gap = beyond === null ? '' : `${next} .. ${name(beyond - 1n)}`;
  const gapError = (why: string) =>
    new NotFoundError(`WAL ${gap} is missing from ${input.repo} (${why}): recovery would stop at ${next}; restore to a point before it (--to, --lsn) or put the missing segments back`);

  switch (target.kind) {
    case 'immediate':
      return result(stop);
    case 'lsn': {
      const need = segmentNumber(target.lsn, segmentSize);
      if (last >= need) return result(need);
      if (beyond !== null) throw gapError(`needed to reach LSN ${formatLsn(target.lsn)}`);
      throw new NotFoundError(`the WAL up to LSN ${formatLsn(target.lsn)} is not archived in ${input.repo} yet (the newest reachable segment is ${name(last)}): wait for archiving ("pitr status") or choose an earlier target`);
    }
    case 'time': {
      // A segment archived after the target holds WAL written up to then; without one, the
      // record that ends recovery at the target has not been archived yet. Stores keep
      // modification times in whole seconds (S3's LastModified), so allow for that second.
      if (wal.archivedAt.size === 0) return result(last);
      for (let segno = stop; segno <= last; segno++) {
        const at = wal.archivedAt.get(name(segno));
        if (at && at.getTime() + MTIME_GRANULARITY_MS > target.time.date.getTime()) return result(last);
      }
      if (beyond !== null) throw gapError(`needed to reach ${target.time.text}`);
      const newest = wal.archivedAt.get(name(last));
      throw new NotFoundError(
        `the newest archived WAL on this timeline (${name(last)}${newest ? `, archived ${newest.toISOString()}` : ''}) is older than ${target.time.text}: ` +
          'the WAL that reaches the target is not archived yet; if the server is up run SELECT pg_switch_wal() there and retry once "pitr status" shows it archived, or restore --latest',
      );
    }
    default:
      // latest, xid, name: replay runs to the end of the archived WAL.
      if (beyond !== null) throw gapError(`recovery replays to the end of the archive for ${describeTarget(target)}`);
      return result(last);
  }
}

const MTIME_GRANULARITY_MS = 1000;
