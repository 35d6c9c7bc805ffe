// The restorable window `pitr list` shows: the stretch of time a restore --to can reach from
// the backups whose WAL is archived. Pure: the caller loads the manifests, the inventory and
// the timeline histories.
import type { BackupManifest } from './backups.js';
import type { WalInventory } from './wal-inventory.js';
import type { TimelineSpan } from '../wal/timeline-history.js';
import { KnownRuns, replayReach } from './replay.js';

export interface RestorableWindow {
  from: string;
  to: string;
  /** The last segment replay reaches without a gap. */
  lastWal: string;
}

/**
 * From the end of the oldest usable backup to the archive time of the last segment that
 * replay reaches without a gap, along the newest timeline (restore --latest): the stretch
 * that reaches furthest, when gaps split the archive. A segment that is missing or not whole
 * ends it: recovery stops there.
 *
 * The end is never before the start. A backup's stop time is an upper bound (the label's
 * STOP TIME rounded up to the end of its second, backup/run.ts), while its last segment is
 * archived as soon as the backup's end record is written, before pg_basebackup returns: right
 * after the first backup the store's time of that segment can be earlier than the recorded
 * stop. The WAL up to the backup's stop is archived all the same, and restore accepts a time
 * up to a second after a segment's store time (plan.ts), which covers the rounding.
 */
export function restorableWindow(
  usable: BackupManifest[],
  wal: WalInventory,
  histories: Map<number, TimelineSpan[]>,
  segmentSize: number,
): RestorableWindow | null {
  const runs = new KnownRuns(); // the backups share runs: each is walked once
  let best: { from: string; at: Date; lastWal: string } | null = null;
  for (const backup of usable) {
    const lastWal = replayReach({ wal, histories, segmentSize }, backup, runs);
    const archived = lastWal === null ? undefined : wal.archivedAt.get(lastWal);
    if (lastWal === null || !archived) continue;
    const stopped = new Date(backup.stopTime);
    const at = archived > stopped ? archived : stopped;
    // Oldest first: a later backup reaching no further adds nothing.
    if (!best || at > best.at) best = { from: backup.stopTime, at, lastWal };
  }
  return best && { from: best.from, to: best.at.toISOString(), lastWal: best.lastWal };
}
