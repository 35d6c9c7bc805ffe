// What `pitr list --json` shows (and the agent's /api/backups): every complete backup, whether
// its own WAL is all archived and whether it is pinned, the archived WAL per timeline with its
// gaps and branches, and the restorable window.
import type { BackupManifest } from './backups.js';
import { readIdentity, type RepositoryIdentity } from './identity.js';
import { readPins } from './pins.js';
import { timelineBranches } from './timeline-branches.js';
import { readHistories, type TimelineWal, type WalView } from './wal-inventory.js';
import { restorableWindow, type RestorableWindow } from './restorable-window.js';
import { freshReads, type RepositoryReads } from './repository-reads.js';
import type { Storage } from '../storage/storage.js';
import { parseLsn } from '../wal/names.js';
import { requiredSegments } from '../wal/segments.js';
import { rootHistory } from '../wal/timeline-history.js';

const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

export type ListedBackup = BackupManifest & {
  walComplete: boolean;
  pinned: boolean;
  /** Its last `pitr verify` (the whole repository's, or `--backup` its own), or null when never verified. */
  verified: { at: string; result: 'passed' | 'failed'; problems: number } | null;
};

export interface Listing {
  repository: string;
  identity: RepositoryIdentity | null;
  backups: ListedBackup[];
  wal: TimelineWal[];
  branches: ReturnType<typeof timelineBranches>;
  restorableWindow: RestorableWindow | null;
  /** WAL files archived in each of the last 24 hours (by the store's modification time), oldest hour first. */
  walArchivedPerHour: { from: string; counts: number[] };
}

export async function listRepository(storage: Storage, reads: RepositoryReads = freshReads(storage)): Promise<Listing> {
  const identity = await readIdentity(storage);
  const segmentSize = identity?.walSegmentSize ?? DEFAULT_SEGMENT_SIZE;
  // Verified: an object cut off by an interrupted upload is not archived (wal-inventory.ts).
  const [backups, inventory, pins, verifications] = await Promise.all([
    reads.backups(),
    reads.walInventory(segmentSize),
    readPins(storage),
    reads.backupVerifications(),
  ]);
  const histories = await readHistories(storage, inventory.histories);
  const branches = timelineBranches(inventory, histories, segmentSize);
  const rows = backups.map((b) => {
    const v = verifications.get(b.id);
    return {
      ...b,
      walComplete: backupWalPresent(b, inventory, segmentSize),
      pinned: pins.has(b.id),
      verified: v ? { at: v.verifiedAt, result: v.result, problems: v.problems } : null,
    };
  });
  const window = await restorableWindow(
    storage,
    rows.filter((b) => b.walComplete),
    inventory,
    histories,
    segmentSize,
  );
  return {
    repository: storage.url,
    identity,
    backups: rows,
    wal: inventory.timelines,
    branches,
    restorableWindow: window,
    walArchivedPerHour: archivedPerHour(inventory.archivedAt, new Date()),
  };
}

const HOUR_MS = 3600_000;

/** Counts of archive times per hour over the last 24 hours, aligned to whole hours. */
export function archivedPerHour(archivedAt: ReadonlyMap<string, Date>, now: Date): { from: string; counts: number[] } {
  const from = Math.floor(now.getTime() / HOUR_MS) * HOUR_MS - 23 * HOUR_MS;
  const counts = new Array<number>(24).fill(0);
  for (const at of archivedAt.values()) {
    const i = Math.floor((at.getTime() - from) / HOUR_MS);
    if (i >= 0 && i < 24) counts[i]!++;
  }
  return { from: new Date(from).toISOString(), counts };
}

function backupWalPresent(b: BackupManifest, inventory: WalView, segmentSize: number): boolean {
  const needed = requiredSegments(rootHistory(b.timeline), parseLsn(b.startLsn)!, parseLsn(b.stopLsn)!, segmentSize);
  return needed.every((name) => inventory.segments.has(name));
}
