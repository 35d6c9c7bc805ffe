// The restorable window `pitr list` shows: the stretch of time a restore --to can reach from
// the backups whose WAL is archived. Pure: the caller loads the manifests, the inventory and
// the timeline histories.
import type { BackupManifest } from '../backup/manifest.js';
import type { WalInventory } from '../repository/wal-inventory.js';
import type { TimelineSpan } from '../wal/timeline-history.js';
import { replayReach } from './plan.js';

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
 */
export function restorableWindow(
  usable: BackupManifest[],
  wal: WalInventory,
  histories: Map<number, TimelineSpan[]>,
  segmentSize: number,
): RestorableWindow | null {
  let best: { from: string; at: Date; lastWal: string } | null = null;
  for (const backup of usable) {
    const lastWal = replayReach({ wal, histories, segmentSize }, backup);
    const at = lastWal === null ? undefined : wal.archivedAt.get(lastWal);
    if (lastWal === null || !at) continue;
    // Oldest first: a later backup reaching no further adds nothing.
    if (!best || at > best.at) best = { from: backup.stopTime, at, lastWal };
  }
  return best && { from: best.from, to: best.at.toISOString(), lastWal: best.lastWal };
}
