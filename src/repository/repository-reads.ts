// The reads of a repository that grow with it: what wal/ holds, every backup's manifest and
// its last verification. A command reads them afresh (freshReads); the agent, which reads them at
// every health watch and for its API, keeps what cannot have changed (repository/kept-reads.ts).
import { listBackups, type BackupManifest } from './backups.js';
import { readBackupVerifications, type BackupVerification } from './verify-results.js';
import type { Storage } from '../storage/storage.js';
import { walInventory, type WalView } from './wal-inventory.js';

export interface RepositoryReads {
  /** What wal/ holds, verified as walInventory's `verify` reads it (an object cut off is not archived). */
  walInventory(segmentSize: number): Promise<WalView>;
  /** Complete backups, oldest first by stop time (listBackups). */
  backups(): Promise<BackupManifest[]>;
  /** Each backup's last verification by `pitr verify`, by backup id. */
  backupVerifications(): Promise<Map<string, BackupVerification>>;
}

export function freshReads(storage: Storage): RepositoryReads {
  return {
    walInventory: (segmentSize) => walInventory(storage, segmentSize, { verify: true }),
    backups: () => listBackups(storage),
    backupVerifications: () => readBackupVerifications(storage),
  };
}
