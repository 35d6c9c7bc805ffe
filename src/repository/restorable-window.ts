// The restorable window `pitr list` shows: the stretch of time a restore --to can reach from
// the backups whose WAL is archived, from the oldest one's end to the last transaction end
// archived after it (a time target stops only at a commit or abort: last-transaction.ts).
import type { TimelineSpan } from '../wal/timeline-history.js';
import type { Storage } from '../storage/storage.js';
import type { BackupManifest } from './backups.js';
import { lastTransactionEnd } from './last-transaction.js';
import { KnownRuns, replayHistory, replayReach } from './replay.js';
import type { WalView } from './wal-inventory.js';

export interface RestorableWindow {
  /** The oldest usable backup's end (its consistency point). */
  from: string;
  /**
   * See `end`. With 'last-transaction' the window is open at this end: PostgreSQL stops a
   * time target before the first commit or abort after it, so a --to reaches times before the
   * last transaction's (at it with --exclusive); --latest replays that transaction too.
   */
  to: string;
  /** The last segment replay reaches without a gap. */
  lastWal: string;
  /**
   * What `to` is: 'last-transaction', the time of the last commit/abort archived (exact);
   * 'no-transaction', none has ended since the backup (`to` is `from`; only --latest and
   * --immediate restore); 'archive-time', the archive time of a segment stored before pitr
   * recorded transaction ends (an upper bound).
   */
  end: 'last-transaction' | 'no-transaction' | 'archive-time';
  /** With 'last-transaction': that record. */
  lastTransaction?: { time: string; lsn: string; wal: string };
}

/** The window's start and the run of archived WAL it lies on (pure: the first step of restorableWindow). */
export interface ArchivedReach {
  backup: BackupManifest;
  history: TimelineSpan[];
  lastWal: string;
  /** The archive time of lastWal, not before the backup's stop. */
  archivedTo: string;
}

/**
 * The backup and run of WAL the window lies on: from the end of the oldest usable backup to
 * the last segment replay reaches without a gap, along the newest timeline (restore --latest),
 * the stretch that reaches furthest when gaps split the archive. A segment that is missing or
 * not whole ends it: recovery stops there.
 *
 * `archivedTo` is never before the start. A backup's stop time is an upper bound (the label's
 * STOP TIME rounded up to the end of its second, backup/run.ts), while its last segment is
 * archived as soon as the backup's end record is written, before pg_basebackup returns.
 */
export function archivedReach(
  usable: BackupManifest[],
  wal: WalView,
  histories: Map<number, TimelineSpan[]>,
  segmentSize: number,
): ArchivedReach | null {
  const runs = new KnownRuns(); // the backups share runs: each is walked once
  let best: { backup: BackupManifest; at: Date; lastWal: string } | null = null;
  for (const backup of usable) {
    const lastWal = replayReach({ wal, histories, segmentSize }, backup, runs);
    const archived = lastWal === null ? undefined : wal.archivedAt.get(lastWal);
    if (lastWal === null || !archived) continue;
    const stopped = new Date(backup.stopTime);
    const at = archived > stopped ? archived : stopped;
    // Oldest first: a later backup reaching no further adds nothing.
    if (!best || at > best.at) best = { backup, at, lastWal };
  }
  return (
    best && {
      backup: best.backup,
      history: replayHistory(histories, best.backup),
      lastWal: best.lastWal,
      archivedTo: best.at.toISOString(),
    }
  );
}

/** The window, with its end read from the last segments' recorded transaction ends. */
export async function restorableWindow(
  storage: Storage,
  usable: BackupManifest[],
  wal: WalView,
  histories: Map<number, TimelineSpan[]>,
  segmentSize: number,
): Promise<RestorableWindow | null> {
  const reach = archivedReach(usable, wal, histories, segmentSize);
  if (!reach) return null;
  const { backup, lastWal } = reach;
  const last = await lastTransactionEnd(storage, backup, reach.history, lastWal, segmentSize);
  const from = backup.stopTime;
  switch (last.kind) {
    case 'found':
      return { from, to: last.time, lastWal, end: 'last-transaction', lastTransaction: { time: last.time, lsn: last.lsn, wal: last.wal } };
    case 'none':
      return { from, to: from, lastWal, end: 'no-transaction' };
    case 'unrecorded':
      return { from, to: reach.archivedTo, lastWal, end: 'archive-time' };
  }
}

/** The window as one line of text. */
export function describeWindow(w: RestorableWindow | null): string {
  if (!w) return 'none (no backup with its WAL archived)';
  switch (w.end) {
    case 'last-transaction':
      return `${w.from} .. ${w.to} (exclusive: the last transaction archived ended then, LSN ${w.lastTransaction!.lsn}; --latest replays it too; WAL through ${w.lastWal})`;
    case 'no-transaction':
      return `none for --to yet: no transaction has ended since the backup that ended ${w.from} (WAL through ${w.lastWal}); --latest and --immediate restore it`;
    case 'archive-time':
      return `${w.from} .. ${w.to} (WAL through ${w.lastWal}, archived then)`;
  }
}
