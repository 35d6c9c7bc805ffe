// `pitr verify`: reads every stored object (or one backup's, with its WAL) against what was
// recorded when it was stored, then checks that the WAL each backup needs (start to stop) and
// the WAL of the restorable window (from the oldest backup to the newest segment, along the
// timeline history a restore --latest follows) are all there. Every bad object and every gap
// is named; the result is recorded in the repository (repository/verify-results.ts).
//
// Memory: the listing of wal/ and the manifests; objects stream through object-check.ts,
// OBJECTS_AT_ONCE at a time, and only problems are kept.
import { hostname } from 'node:os';
import { IntegrityError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import { listBackups, type BackupManifest } from '../repository/backups.js';
import { readIdentity } from '../repository/identity.js';
import { WAL_PREFIX } from '../repository/layout.js';
import { EXPIRE_INTENT_KEY, readExpireIntent } from '../repository/expire-intent.js';
import { recordBackupVerification, recordVerifyRun } from '../repository/verify-results.js';
import type { WalProblem } from '../repository/wal-completeness.js';
import { isArchivedWalKey, readHistories, summariseWal } from '../repository/wal-inventory.js';
import { replayHistory } from '../repository/replay.js';
import type { Storage } from '../storage/storage.js';
import { parseLsn, parseWalFileName } from '../wal/names.js';
import { requiredSegments, segmentNumber, segmentNumberOfName, segmentOnHistory } from '../wal/segments.js';
import { rootHistory, type TimelineSpan } from '../wal/timeline-history.js';
import { checkBackupFile, checkWalObject, type ObjectProblem } from './object-check.js';

/** Objects read at once: enough to keep a store and a core busy, few enough for 2 CPUs shared. */
export const OBJECTS_AT_ONCE = 4;
/** How many problems the recorded run quotes. */
const EXAMPLES = 5;

export type VerifyProblem =
  | { kind: 'missing' | 'incomplete' | 'damaged'; object: string; message: string }
  | { kind: 'gap'; from: string; to: string; segments: number; backups: string[]; message: string };

export interface BackupResult {
  id: string;
  result: 'passed' | 'failed';
  problems: number;
}

export interface VerifyReport {
  repository: string;
  /** 'all', or 'backup <id>'. */
  scope: string;
  result: 'passed' | 'failed';
  startedAt: string;
  finishedAt: string;
  objects: { checked: number; bytes: number };
  problems: VerifyProblem[];
  backups: BackupResult[];
  /** WAL absent between one backup's stop and a later backup's start: left out by retention (WAL thinning), not a gap. */
  thinned: { from: string; to: string; segments: number }[];
  /** An expire that was interrupted (expire/intent.json): when it began and the backups it was removing; null for none. */
  interruptedExpire: { startedAt: string; backups: string[] } | null;
}

interface WalObject {
  key: string;
  name: string;
  size: number;
}

export async function verifyRepository(args: {
  storage: Storage;
  log: Logger;
  backupId?: string;
  onProgress?: (bytes: number, total: number) => void;
}): Promise<VerifyReport> {
  const { storage, log } = args;
  const startedAt = new Date().toISOString();
  const identity = await readIdentity(storage);
  // Nothing is written into a repository no cluster is bound to: it may be an unmounted volume's mount point.
  if (identity === null)
    throw new NotFoundError(
      `${storage.url} is not a pitr repository (no repository.json): nothing to verify; check --repo, or run pitr init`,
    );
  const segmentSize = identity.walSegmentSize;
  const problems: VerifyProblem[] = [];

  let backups: BackupManifest[] = [];
  try {
    backups = await listBackups(storage);
  } catch (err) {
    // One unreadable manifest hides every backup from list and restore: a finding, named.
    if (!(err instanceof IntegrityError)) throw err;
    problems.push({ kind: 'damaged', object: 'backups/', message: err.message });
  }
  const [{ objects }, { intent, damaged: damagedIntent }] = await Promise.all([storage.list(WAL_PREFIX), readExpireIntent(storage)]);
  // Without it, a stretch an interrupted expire was removing may be named as a gap: that errs on the safe side.
  if (damagedIntent) problems.push({ kind: 'damaged', object: EXPIRE_INTENT_KEY, message: damagedIntent });
  const wal: WalObject[] = objects
    .map((o) => ({ key: o.key, size: o.size, name: o.key.slice(o.key.lastIndexOf('/') + 1) }))
    .filter((o) => isArchivedWalKey(o.key));
  const listed = new Set(wal.map((o) => o.name));

  let selected = backups;
  let toRead = wal;
  if (args.backupId !== undefined) {
    selected = backups.filter((b) => b.id === args.backupId);
    if (selected.length === 0)
      throw new NotFoundError(`backup ${args.backupId} is not in ${storage.url}: "pitr list" shows the complete backups`);
    // Its WAL from start to stop, and the history files that say which timelines that WAL is on.
    // A damaged history file is named when it is read below; until then the backup's own timeline is followed.
    const histories = await readHistories(storage, historyTimelines(listed)).catch((err: unknown) => {
      if (err instanceof IntegrityError) return new Map<number, TimelineSpan[]>();
      throw err;
    });
    const needed = new Set([...backupSegments(selected[0]!, histories, segmentSize), ...[...listed].filter((n) => n.endsWith('.history'))]);
    toRead = wal.filter((o) => needed.has(o.name));
  }

  // Every object, read whole.
  const total = toRead.reduce((n, o) => n + o.size, 0) + selected.reduce((n, b) => n + b.files.reduce((m, f) => m + f.storedSize, 0), 0);
  let bytes = 0;
  const onBytes = (n: number) => {
    bytes += n;
    args.onProgress?.(bytes, total);
  };
  const badWal = new Map<string, WalProblem>();
  const badFiles = new Map<string, ObjectProblem>();
  const jobs: (() => Promise<void>)[] = [
    ...selected.flatMap((b) =>
      b.files.map((f) => async () => {
        const p = await checkBackupFile(storage, f, onBytes);
        if (p) badFiles.set(f.key, p);
      }),
    ),
    ...toRead.map((o) => async () => {
      const p = await checkWalObject(storage, o.key, o.name, onBytes);
      if (p) badWal.set(o.name, p.state === 'damaged' ? { state: 'damaged', message: p.message } : { state: p.state, stored: 0 });
      if (p) badFiles.set(o.key, p);
    }),
  ];
  await runAtMost(OBJECTS_AT_ONCE, jobs);
  for (const p of [...badFiles.values()].sort((a, b) => (a.key < b.key ? -1 : 1)))
    problems.push({ kind: p.state, object: p.key, message: p.message });

  // The WAL chains, with only sound objects counted as archived (as restore counts them).
  const inventory = summariseWal([...listed], segmentSize, badWal);
  const histories = await readHistories(storage, inventory.histories);
  const gaps = new Map<string, Extract<VerifyProblem, { kind: 'gap' }>>();
  const addGap = (run: { from: string; to: string; segments: number }, backup: string | null, why: string) => {
    const key = `${run.from}..${run.to}`;
    const gap = gaps.get(key) ?? { kind: 'gap' as const, from: run.from, to: run.to, segments: run.segments, backups: [], message: '' };
    if (backup !== null && !gap.backups.includes(backup)) gap.backups.push(backup);
    gap.message ||= `WAL ${run.from} .. ${run.to} (${run.segments} segment(s)) is missing from ${storage.url}: ${why}`;
    gaps.set(key, gap);
  };
  const perBackup = new Map<string, number>(selected.map((b) => [b.id, 0]));
  for (const b of selected) {
    const needed = backupSegments(b, histories, segmentSize);
    let count = b.files.filter((f) => badFiles.has(f.key)).length + needed.filter((n) => badWal.has(n)).length;
    for (const run of missingRuns(needed, (n) => listed.has(n) && !badWal.has(n), segmentSize)) {
      if (run.names.every((n) => badWal.has(n))) continue; // already named, as bad objects
      addGap(run, b.id, `backup ${b.id} needs it to be made consistent (its WAL runs from ${b.startWal} to ${b.stopWal})`);
      count++;
    }
    perBackup.set(b.id, count);
  }
  const thinned: VerifyReport['thinned'] = [];
  if (args.backupId === undefined && backups.length > 0) {
    const oldest = backups[0]!;
    const history = replayHistory(histories, oldest);
    const first = segmentNumber(parseLsn(oldest.startLsn)!, segmentSize);
    // The listed segments of this chain, sound or not: walking them rather than every number
    // from the first to the newest keeps the work to the listing, whatever a stray name says.
    const sound: bigint[] = [];
    const bad: bigint[] = [];
    for (const name of listed) {
      if (parseWalFileName(name)!.kind !== 'segment') continue;
      const segno = segmentNumberOfName(name, segmentSize);
      if (segno < first || segmentOnHistory(history, segno, segmentSize) !== name) continue;
      (badWal.has(name) ? bad : sound).push(segno);
    }
    const newest = [...sound, ...bad].reduce((a, b) => (b > a ? b : a), first);
    const newestName = segmentOnHistory(history, newest, segmentSize);
    sound.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    // An interrupted expire is half-way through removing stretches of WAL: judged as they will
    // be once it is done, its backups' ends still count and the WAL it set out to remove counts as there.
    const ends = [...backups, ...(intent?.backups ?? [])];
    const starts = new Set(ends.map((b) => segmentNumber(parseLsn(b.startLsn)!, segmentSize)));
    const stops = new Set(ends.map((b) => segmentNumber(parseLsn(b.stopLsn)!, segmentSize)));
    const known = new Set(sound);
    for (const run of intent?.wal ?? []) {
      for (let segno = segmentNumberOfName(run.from, segmentSize); segno <= segmentNumberOfName(run.to, segmentSize); segno++) {
        if (segno >= first && !known.has(segno) && segmentOnHistory(history, segno, segmentSize).slice(0, 8) === run.from.slice(0, 8)) {
          sound.push(segno);
          known.add(segno);
        }
      }
    }
    sound.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    let previous = first - 1n;
    for (const next of [...sound, newest + 1n]) {
      if (next > previous + 1n) {
        const [from, to] = [previous + 1n, next - 1n];
        const segments = Number(to - from + 1n);
        const badInside = bad.filter((n) => n >= from && n <= to).length;
        const run = {
          from: segmentOnHistory(history, from, segmentSize),
          to: segmentOnHistory(history, to, segmentSize),
          segments,
        };
        if (badInside === segments) {
          // Every one of them is there but bad: already named, as objects.
        } else if (badInside === 0 && stops.has(from - 1n) && starts.has(to + 1n)) {
          thinned.push(run);
        } else {
          addGap(
            run,
            null,
            `restore --latest along timeline ${history.at(-1)!.timeline} from a backup that started before it stops at ${run.from}, short of the newest archived segment ${newestName}`,
          );
        }
      }
      if (next > previous) previous = next;
    }
  }
  problems.push(...[...gaps.values()].sort((a, b) => (a.from < b.from ? -1 : 1)));

  const finishedAt = new Date().toISOString();
  const report: VerifyReport = {
    repository: storage.url,
    scope: args.backupId === undefined ? 'all' : `backup ${args.backupId}`,
    result: problems.length === 0 ? 'passed' : 'failed',
    startedAt,
    finishedAt,
    objects: { checked: jobs.length, bytes },
    problems,
    backups: selected.map((b) => ({ id: b.id, result: perBackup.get(b.id) === 0 ? 'passed' : 'failed', problems: perBackup.get(b.id)! })),
    thinned,
    interruptedExpire: intent && { startedAt: intent.startedAt, backups: intent.backups.map((b) => b.id) },
  };
  await recordVerifyRun(storage, {
    startedAt,
    finishedAt,
    scope: report.scope,
    result: report.result,
    problems: problems.length,
    examples: problems.slice(0, EXAMPLES).map((p) => p.message),
    host: hostname(),
  });
  await Promise.all(
    report.backups.map((b) =>
      recordBackupVerification(storage, { backup: b.id, verifiedAt: finishedAt, result: b.result, problems: b.problems }),
    ),
  );
  log.info({ scope: report.scope, result: report.result, problems: problems.length, objects: jobs.length, bytes }, 'verify finished');
  return report;
}

/** The segments recovery reads to make `backup` consistent: its start to its stop, along its own timeline's history. */
function backupSegments(backup: BackupManifest, histories: Map<number, TimelineSpan[]>, segmentSize: number): string[] {
  const history = histories.get(backup.timeline) ?? rootHistory(backup.timeline);
  return requiredSegments(history, parseLsn(backup.startLsn)!, parseLsn(backup.stopLsn)!, segmentSize);
}

function historyTimelines(names: Set<string>): number[] {
  return [...names].filter((n) => n.endsWith('.history')).map((n) => parseInt(n.slice(0, 8), 16));
}

interface Run {
  from: string;
  to: string;
  segments: number;
  names: string[];
}

/** The runs of consecutive names in `chain` (consecutive segments) that are not `present`. */
function missingRuns(chain: string[], present: (name: string) => boolean, segmentSize: number): Run[] {
  const runs: Run[] = [];
  let current: string[] = [];
  const close = () => {
    if (current.length > 0) runs.push({ from: current[0]!, to: current.at(-1)!, segments: current.length, names: current });
    current = [];
  };
  let previous: bigint | null = null;
  for (const name of chain) {
    const segno = segmentNumberOfName(name, segmentSize);
    if (previous !== null && segno !== previous + 1n) close();
    previous = segno;
    if (present(name)) close();
    else current.push(name);
  }
  close();
  return runs;
}

/** Runs `jobs`, at most `limit` at a time; the first failure stops the others from starting. */
async function runAtMost(limit: number, jobs: (() => Promise<void>)[]): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const job = jobs[next++]!;
      try {
        await job();
      } catch (err) {
        next = jobs.length;
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
}
