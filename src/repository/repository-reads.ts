// The reads of a repository that grow with it: every WAL object under wal/, every backup's
// manifest and its last verification. A command reads them afresh (freshReads); the agent, which reads them at
// every health watch and for its API, keeps what cannot have changed (repository/kept-reads.ts).
import { listBackups, type BackupManifest } from './backups.js';
import { WAL_PREFIX } from './layout.js';
import { readBackupVerifications, type BackupVerification } from './verify-results.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';

export interface RepositoryReads {
  /** Every object under wal/, as one recursive listing of wal/ returns them. */
  walObjects(): Promise<ObjectInfo[]>;
  /** Complete backups, oldest first by stop time (listBackups). */
  backups(): Promise<BackupManifest[]>;
  /** Each backup's last verification by `pitr verify`, by backup id. */
  backupVerifications(): Promise<Map<string, BackupVerification>>;
}

export function freshReads(storage: Storage): RepositoryReads {
  return {
    walObjects: async () => (await storage.list(WAL_PREFIX)).objects,
    backups: () => listBackups(storage),
    backupVerifications: () => readBackupVerifications(storage),
  };
}
