// One backup at a time per repository. The lock is an object created without overwriting;
// its holder refreshes a heartbeat, so a crashed backup's lock is recognised as stale (a dead
// pid on this host at once, or a heartbeat older than STALE_MS from any host) and taken over.
import { hostname } from 'node:os';
import { AlreadyExistsError, BusyError } from '../errors.js';
import { processAlive } from '../os/process.js';
import * as v from 'valibot';
import { isoTime, parseJsonDocument } from '../codec/json-document.js';
import type { Storage } from '../storage/storage.js';

export const LOCK_KEY = 'locks/backup.json';
const HEARTBEAT_MS = 30_000;
const STALE_MS = 5 * 60_000;

const lockBodySchema = v.object({
  id: v.string(),
  pid: v.pipe(v.number(), v.integer()),
  host: v.string(),
  startedAt: isoTime,
  heartbeatAt: isoTime,
});
type LockBody = v.InferOutput<typeof lockBodySchema>;

export interface HeldLock {
  release(): Promise<void>;
}

export async function acquireBackupLock(storage: Storage, id: string, now = () => new Date()): Promise<HeldLock> {
  const body = (): Buffer => {
    const t = now().toISOString();
    return Buffer.from(JSON.stringify({ id, pid: process.pid, host: hostname(), startedAt, heartbeatAt: t } satisfies LockBody));
  };
  const startedAt = now().toISOString();
  const readHolder = async (): Promise<LockBody | null> => {
    const raw = await storage.get(LOCK_KEY);
    if (!raw) return null;
    return parseJsonDocument(raw.toString('utf8'), lockBodySchema, {
      what: `${storage.url}${LOCK_KEY}`,
      fix: 'if no backup is running, remove it and try again',
      error: BusyError,
    });
  };
  // Look before writing: some S3-compatible stores (s3rver among them) ignore If-None-Match
  // and would let a second backup overwrite the first one's lock.
  const current = await readHolder();
  if (current && !isStale(current, now())) throw busy(storage, current);
  if (current) await storage.delete(LOCK_KEY); // stale: the holder is gone
  try {
    await storage.put(LOCK_KEY, body(), { noOverwrite: true });
  } catch (err) {
    if (err instanceof AlreadyExistsError) throw busy(storage, await readHolder().catch(() => null));
    throw err;
  }
  // Read back: of two racing writers on a store without conditional puts, the later write
  // wins, and the earlier one learns here that it does not hold the lock.
  const written = await readHolder();
  if (written?.id !== id) throw busy(storage, written);
  const timer = setInterval(() => {
    storage.put(LOCK_KEY, body()).catch(() => undefined);
  }, HEARTBEAT_MS);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await storage.delete(LOCK_KEY);
    },
  };
}

function isStale(holder: LockBody, now: Date): boolean {
  if (holder.host === hostname() && !processAlive(holder.pid)) return true;
  return now.getTime() - new Date(holder.heartbeatAt).getTime() > STALE_MS;
}

function busy(storage: Storage, holder: LockBody | null): BusyError {
  const who = holder ? `backup ${holder.id} (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt})` : 'another backup';
  return new BusyError(
    `${who} is running in ${storage.url}: one backup at a time; wait for it, or remove ${LOCK_KEY} if that process is gone`,
  );
}
