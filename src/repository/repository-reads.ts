// The two reads of a repository that grow with it: every WAL object under wal/ and every
// backup's manifest. A command reads them afresh (freshReads); the agent, which reads them at
// every health watch and for its API, keeps what cannot have changed (repository/kept-reads.ts).
import { listBackups, type BackupManifest } from './backups.js';
import { WAL_PREFIX } from './layout.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';

export interface RepositoryReads {
  /** Every object under wal/, as one recursive listing of wal/ returns them. */
  walObjects(): Promise<ObjectInfo[]>;
  /** Complete backups, oldest first by stop time (listBackups). */
  backups(): Promise<BackupManifest[]>;
}

export function freshReads(storage: Storage): RepositoryReads {
  return {
    walObjects: async () => (await storage.list(WAL_PREFIX)).objects,
    backups: () => listBackups(storage),
  };
}
