// Removing the temporary files of killed writes (Storage.sweepAbandonedWrites), where it costs
// nothing on the hot path: in the resident archiver's background and at the start of a backup.
// It only reclaims space, so it never fails the work that runs it.
import type { Logger } from '../log.js';
import type { Storage } from './storage.js';

export async function sweepAbandonedWrites(storage: Storage, prefix: string, log: Logger): Promise<void> {
  if (!storage.sweepAbandonedWrites) return;
  const started = performance.now();
  try {
    const { files, bytes } = await storage.sweepAbandonedWrites(prefix);
    const ms = Math.round(performance.now() - started);
    log[files > 0 ? 'info' : 'debug']({ prefix, files, bytes, ms }, 'removed the temporary files of interrupted writes');
  } catch (err) {
    log.warn({ prefix, err: (err as Error).message }, 'could not remove the temporary files of interrupted writes; carrying on');
  }
}
