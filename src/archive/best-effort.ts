// The spools (look-ahead records, prefetched segments) only save time. A failure in their
// upkeep (a permission, a full disk, a failed spawn) must never fail archive_command or
// restore_command, which would stall archiving or stop recovery: it is logged and skipped.
import type { Logger } from '../log.js';

export async function bestEffort<T>(work: Promise<T>, fallback: T, what: string, log: Logger): Promise<T> {
  try {
    return await work;
  } catch (err) {
    log.warn({ err: (err as Error).message }, `${what} failed; carrying on without it`);
    return fallback;
  }
}
