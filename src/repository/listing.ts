// What `pitr list --json` shows (and the agent's /api/backups): every complete backup, whether
// its own WAL is all archived and whether it is pinned, the archived WAL per timeline with its
// gaps and branches, and the restorable window.
import { listBackups, type BackupManifest } from './backups.js';
import { readIdentity, type RepositoryIdentity } from './identity.js';
import { readPins } from './pins.js';
import { timelineBranches } from './timeline-branches.js';
import { readHistories, walInventory, type TimelineWal, type WalInventory } from './wal-inventory.js';
import { restorableWindow, type RestorableWindow } from './restorable-window.js';
import type { Storage } from '../storage/storage.js';
import { parseLsn } from '../wal/names.js';
import { requiredSegments } from '../wal/segments.js';
import { rootHistory } from '../wal/timeline-history.js';

const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

export type ListedBackup = BackupManifest & { walComplete: boolean; pinned: boolean };

export interface Listing {
  repository: string;
  identity: RepositoryIdentity | null;
  backups: ListedBackup[];
  wal: TimelineWal[];
  branches: ReturnType<typeof timelineBranches>;
  restorableWindow: RestorableWindow | null;
}

export async function listRepository(storage: Storage): Promise<Listing> {
  const identity = await readIdentity(storage);
  const segmentSize = identity?.walSegmentSize ?? DEFAULT_SEGMENT_SIZE;
  // Verified: an object cut off by an interrupted upload is not archived (wal-inventory.ts).
  const [backups, inventory, pins] = await Promise.all([
    listBackups(storage),
    walInventory(storage, segmentSize, { verify: true }),
    readPins(storage),
  ]);
  const histories = await readHistories(storage, inventory.histories);
  const branches = timelineBranches(inventory, histories, segmentSize);
  const rows = backups.map((b) => ({ ...b, walComplete: backupWalPresent(b, inventory, segmentSize), pinned: pins.has(b.id) }));
  const window = await restorableWindow(
    storage,
    rows.filter((b) => b.walComplete),
    inventory,
    histories,
    segmentSize,
  );
  return { repository: storage.url, identity, backups: rows, wal: inventory.timelines, branches, restorableWindow: window };
}

function backupWalPresent(b: BackupManifest, inventory: WalInventory, segmentSize: number): boolean {
  const needed = requiredSegments(rootHistory(b.timeline), parseLsn(b.startLsn)!, parseLsn(b.stopLsn)!, segmentSize);
  return needed.every((name) => inventory.segments.has(name));
}
