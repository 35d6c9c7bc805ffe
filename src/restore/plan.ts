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
import { byStopTime, type BackupManifest } from '../repository/backups.js';
import { InputError, IntegrityError, NotFoundError, type PitrError } from '../errors.js';
import { describeProblem, type WalProblem } from '../repository/wal-completeness.js';
import type { WalInventory } from '../repository/wal-inventory.js';
import { newestTimeline, runEnd } from '../repository/replay.js';
import { formatLsn, historyFileName, parseLsn } from '../wal/names.js';
import { segmentNumber, segmentNumberOfName, segmentOnHistory } from '../wal/segments.js';
import { describeHistory, isOnHistory, rootHistory, type TimelineSpan } from '../wal/timeline-history.js';
import type { LastTransaction } from '../repository/last-transaction.js';
import { isoMicros, type TransactionEnds } from '../wal/transaction-ends.js';
import { describeTarget, type RecoveryTarget, type TargetTime, type TimelineChoice } from './target.js';

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
  /**
   * Archived files known not to be whole (repository/wal-completeness.ts): left out of `wal`
   * and `histories` by the caller, so they count as missing; a refusal at one names it.
   */
  unusable?: Map<string, WalProblem>;
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
  checkHistoryProbe(input, timeline);
  const chain = checkWal(input, backup, history);
  return { backup, timeline, history, ...chain };
}

/**
 * Whether a segment holds the record that ends recovery for a time target: a transaction end
 * after the target (at or after it, exclusive). Replay never reads past that segment.
 */
export function holdsTimeStop(ends: TransactionEnds | undefined, target: RecoveryTarget, inclusive: boolean): boolean {
  return target.kind === 'time' && ends?.last !== undefined && stopsBefore(ends.last.time, target.time, inclusive);
}

/** Whether recovery stops a time target before a transaction that ended at `end` (recoveryStopsBefore). */
function stopsBefore(end: string, target: TargetTime, inclusive: boolean): boolean {
  const time = isoMicros(end);
  return inclusive ? time > target.micros : time >= target.micros;
}

/**
 * The plan ending at `segment` (a time target's stop, found by holdsTimeStop): replay reads no
 * further. Never before the backup's own last segment, which consistency needs.
 */
export function endPlanAt(plan: RestorePlan, segment: string, segmentSize: number): RestorePlan {
  const end = segmentNumberOfName(segment, segmentSize);
  if (end < segmentNumber(parseLsn(plan.backup.stopLsn)!, segmentSize)) return plan;
  return { ...plan, lastSegment: segment, segmentCount: Number(end - segmentNumberOfName(plan.firstSegment, segmentSize) + 1n) };
}

/** The segments replay reads, in order (the chain planRestore checked by name). */
export function replaySegments(plan: RestorePlan, segmentSize: number): string[] {
  const names: string[] = [];
  for (
    let segno = segmentNumberOfName(plan.firstSegment, segmentSize);
    segno <= segmentNumberOfName(plan.lastSegment, segmentSize);
    segno++
  ) {
    names.push(segmentOnHistory(plan.history, segno, segmentSize));
  }
  return names;
}

/**
 * Refuses an archived file recovery will read that is not whole. Cut off (an interrupted
 * upload) is exit 1, as missing WAL: for this restore the file is not archived, only part of
 * it is, and the remedy is the one for missing WAL (push it again, or a target before it).
 * Exit 6 is for damage that needs another copy of the repository. `instead`: the other way out.
 */
function notWhole(input: PlanInput, name: string, why: string, instead: string): PitrError | null {
  const problem = input.unusable?.get(name);
  if (!problem || problem.state === 'missing') return null;
  if (problem.state === 'damaged') {
    return new IntegrityError(
      `${problem.message}; recovery would stop at it (${why}): restore it from another copy of the repository, or ${instead}`,
    );
  }
  return new NotFoundError(
    `archived ${name} in ${input.repo} is ${describeProblem(problem)} (an interrupted upload), so recovery would stop at it (${why}): ` +
      `push it again from pg_wal if it is still there ("pitr wal-push pg_wal/${name}" in the data directory), or ${instead}`,
  );
}

/**
 * At the end of recovery PostgreSQL picks a new timeline id by fetching the history files
 * above its own (findNewestTimeLine) until one is not archived: one that is there but not
 * whole would stop it (wal-fetch refuses it, and PostgreSQL stops at that refusal).
 */
function checkHistoryProbe(input: PlanInput, timeline: number): void {
  for (let tli = timeline + 1; ; tli++) {
    const refusal = notWhole(
      input,
      historyFileName(tli),
      `recovery reads it at its end to choose a new timeline`,
      `remove it if timeline ${tli} is of no use`,
    );
    if (refusal) throw refusal;
    if (!input.histories.has(tli)) return;
  }
}

function chooseBackup(input: PlanInput): { backup: BackupManifest; timeline: number; history: TimelineSpan[] } {
  const { backups, target, repo } = input;
  if (backups.length === 0) throw new NotFoundError(`no complete backup in ${repo}: take one with "pitr backup"`);
  const newestFirst = [...backups].sort(byStopTime).reverse();
  const candidates = input.backupId ? newestFirst.filter((b) => b.id === input.backupId) : newestFirst;
  if (candidates.length === 0)
    throw new NotFoundError(`backup ${input.backupId} is not in ${repo}: "pitr list" shows the complete backups`);

  const offTimeline: string[] = [];
  for (const backup of candidates) {
    const timeline = resolveTimeline(input.histories, input.timeline, backup);
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
    throw new InputError(
      `no backup before the target lies on the history of ${choice}; candidates ${offTimeline.join(', ')} branch off it: choose --timeline`,
    );
  }
  const oldest = newestFirst.at(-1)!;
  throw new InputError(
    `${describeTarget(target)} is before the end of the oldest backup (${oldest.id}, ended ${oldest.stopTime} at LSN ${oldest.stopLsn}): ` +
      'a restore can reach only points after a backup ended',
  );
}

function resolveTimeline(histories: PlanInput['histories'], choice: TimelineChoice, backup: BackupManifest): number {
  if (choice === 'current') return backup.timeline;
  if (typeof choice === 'number') return choice;
  return newestTimeline(histories, backup.timeline);
}

function historyOf(input: PlanInput, timeline: number, backup: BackupManifest): TimelineSpan[] {
  const history = input.histories.get(timeline);
  if (history) return history;
  const refusal = notWhole(
    input,
    historyFileName(timeline),
    `it says which WAL timeline ${timeline} is made of`,
    'choose another --timeline',
  );
  if (refusal) throw refusal;
  if (timeline === backup.timeline || timeline === 1) return rootHistory(timeline);
  throw new NotFoundError(
    `timeline ${timeline} has no history file (${historyFileName(timeline)}) in ${input.repo}: "pitr list" shows the timelines`,
  );
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
  const last = runEnd(wal, history, first, segmentSize);
  const next = name(last + 1n);
  const result = (end: bigint) => ({ firstSegment: name(first), lastSegment: name(end), segmentCount: Number(end - first + 1n) });
  /** Every refusal below is at `next`: one that is there but not whole is named as such. */
  const refuse = (why: string, otherwise: () => PitrError) =>
    notWhole(input, next, why, 'choose an earlier target (--to, --lsn)') ?? otherwise();

  const stop = segmentNumber(parseLsn(backup.stopLsn)!, segmentSize);
  if (last < stop) {
    throw (
      notWhole(input, next, `needed to make backup ${backup.id} consistent`, 'choose another backup (--backup)') ??
      new NotFoundError(
        `the WAL of backup ${backup.id} is incomplete in ${input.repo}: ${next} is missing, so the backup cannot be made consistent; choose another backup`,
      )
    );
  }
  // An archived segment on this history after the first missing one means a gap.
  let beyond: bigint | null = null;
  for (const archived of wal.segments) {
    const segno = segmentNumberOfName(archived, segmentSize);
    if (segno > last + 1n && (beyond === null || segno < beyond) && name(segno) === archived) beyond = segno;
  }
  const gap = beyond === null ? '' : `${next} .. ${name(beyond - 1n)}`;
  const gapError = (why: string) =>
    refuse(
      why,
      () =>
        new NotFoundError(
          `WAL ${gap} is missing from ${input.repo} (${why}): recovery would stop at ${next}; restore to a point before it (--to, --lsn) or put the missing segments back`,
        ),
    );

  switch (target.kind) {
    case 'immediate':
      return result(stop);
    case 'lsn': {
      const need = segmentNumber(target.lsn, segmentSize);
      if (last >= need) return result(need);
      const why = `needed to reach LSN ${formatLsn(target.lsn)}`;
      if (beyond !== null) throw gapError(why);
      throw refuse(
        why,
        () =>
          new NotFoundError(
            `the WAL up to LSN ${formatLsn(target.lsn)} is not archived in ${input.repo} yet (the newest reachable segment is ${name(last)}): wait for archiving ("pitr status") or choose an earlier target`,
          ),
      );
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
      const why = `needed to reach ${target.time.text}`;
      if (beyond !== null) throw gapError(why);
      const newest = wal.archivedAt.get(name(last));
      throw refuse(
        why,
        () =>
          new NotFoundError(
            `the newest archived WAL on this timeline (${name(last)}${newest ? `, archived ${newest.toISOString()}` : ''}) is older than ${target.time.text}: ` +
              'the WAL that reaches the target is not archived yet; if the server is up run SELECT pg_switch_wal() there and retry once "pitr status" shows it archived, or restore --latest',
          ),
      );
    }
    default: {
      // latest, xid, name: replay runs to the end of the archived WAL, and asks for the next
      // segment to find that end: one there but not whole stops it instead (wal-fetch refuses it).
      const why = `recovery replays to the end of the archive for ${describeTarget(target)}`;
      if (beyond !== null) throw gapError(why);
      const refusal = notWhole(input, next, why, 'choose an earlier target (--to, --lsn)');
      if (refusal) throw refusal;
      return result(last);
    }
  }
}

const MTIME_GRANULARITY_MS = 1000;

/**
 * Refuses a time the archived WAL cannot stop at (`last`: the last transaction end on the
 * plan's chain, read by the caller: repository/last-transaction.ts). PostgreSQL stops a time
 * target only before a commit or abort whose time is after it (at or after it with
 * recovery_target_inclusive off: recoveryStopsBefore); with none archived, recovery would
 * replay everything the repository holds and then fail with "recovery ended before configured
 * recovery target was reached", after the whole backup was written. `windowFrom`: where
 * restorable times start.
 */
export function checkTimeReachable(
  plan: RestorePlan,
  target: RecoveryTarget,
  inclusive: boolean,
  last: LastTransaction,
  windowFrom: string,
  repo: string,
): void {
  if (target.kind !== 'time' || last.kind === 'unrecorded') return;
  const { backup } = plan;
  if (last.kind === 'none') {
    throw new NotFoundError(
      `no transaction has ended in ${repo} since backup ${backup.id} ended (${backup.stopTime}; WAL archived through ${plan.lastSegment}), ` +
        `and recovery stops at a time only before a later commit or abort, so ${target.time.text} cannot be reached yet: restore --immediate (the end of the backup) or --latest, ` +
        'or once the server has committed after that time run SELECT pg_switch_wal() there and retry when "pitr status" shows it archived',
    );
  }
  if (stopsBefore(last.time, target.time, inclusive)) return;
  throw new NotFoundError(
    `${target.time.text} is not before the last transaction archived in ${repo}, which ended ${last.time} (LSN ${last.lsn}, in ${last.wal}): ` +
      `recovery stops at a time only before a later commit or abort, so it would run out of WAL first. Restorable times run from ${windowFrom} to just before ${last.time}` +
      `${inclusive ? ' (to it with --exclusive)' : ''}: choose one, or --latest, which replays that transaction too; ` +
      'if the server has committed since, run SELECT pg_switch_wal() there and retry when "pitr status" shows it archived',
  );
}
