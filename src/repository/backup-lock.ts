// One backup at a time per repository (expire takes the same lock: it deletes nothing while a
// backup runs); repository-lock.ts holds it.
import type { Storage } from '../storage/storage.js';
import { acquireRepositoryLock, type HeldLock } from './repository-lock.js';

export type { HeldLock } from './repository-lock.js';
export const LOCK_KEY = 'locks/backup.json';

export function acquireBackupLock(storage: Storage, id: string, now?: () => Date): Promise<HeldLock> {
  return acquireRepositoryLock(storage, {
    key: LOCK_KEY,
    id,
    now,
    busy: (holder) =>
      `${holder ? `backup ${holder.id} (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt})` : 'another backup'} is running in ${storage.url}: ` +
      `one backup at a time; wait for it, or remove ${LOCK_KEY} if that process is gone`,
  });
}
