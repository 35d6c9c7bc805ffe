// A lock held in the repository: one backup at a time, one agent per repository. The lock is
// an object created without overwriting; its holder refreshes a heartbeat, so a crashed
// holder's lock is recognised as stale (a dead pid in this pid space at once, or a heartbeat
// older than STALE_MS from anywhere) and taken over.
import { hostname } from 'node:os';
import * as v from 'valibot';
import { isoTime, parseJsonDocument } from '../codec/json-document.js';
import { AlreadyExistsError, BusyError } from '../errors.js';
import { pidSpace, processAlive } from '../os/process.js';
import type { Storage } from '../storage/storage.js';

const HEARTBEAT_MS = 30_000;
const STALE_MS = 5 * 60_000;

const lockBodySchema = v.object({
  id: v.string(),
  pid: v.pipe(v.number(), v.integer()),
  host: v.string(),
  /** Absent in locks written before it was recorded: then the host alone decides. */
  pidSpace: v.optional(v.string()),
  startedAt: isoTime,
  heartbeatAt: isoTime,
});
export type LockHolder = v.InferOutput<typeof lockBodySchema>;

export interface HeldLock {
  release(): Promise<void>;
}

export interface LockSpec {
  key: string;
  /** Called once when a heartbeat finds the lock taken by another (this holder was silent too long). */
  onLost?: (holder: LockHolder | null) => void;
  /** The holder's id, written into the lock. */
  id: string;
  /** The one-line refusal when another live holder has it (null: unreadable). */
  busy: (holder: LockHolder | null) => string;
  now?: () => Date;
  /** How often the holder refreshes it (default 30 s). */
  heartbeatMs?: number;
}

export async function acquireRepositoryLock(storage: Storage, spec: LockSpec): Promise<HeldLock> {
  const { key, id } = spec;
  const now = spec.now ?? (() => new Date());
  const startedAt = now().toISOString();
  const body = (): Buffer => {
    const t = now().toISOString();
    return Buffer.from(
      JSON.stringify({ id, pid: process.pid, host: hostname(), pidSpace: pidSpace(), startedAt, heartbeatAt: t } satisfies LockHolder),
    );
  };
  const busy = (holder: LockHolder | null) => new BusyError(spec.busy(holder));
  const readHolder = async (): Promise<LockHolder | null> => {
    const raw = await storage.get(key);
    if (!raw) return null;
    return parseJsonDocument(raw.toString('utf8'), lockBodySchema, {
      what: `${storage.url}${key}`,
      fix: 'if its holder is gone, remove it and try again',
      error: BusyError,
    });
  };
  // Look before writing: some S3-compatible stores (s3rver among them) ignore If-None-Match
  // and would let a second holder overwrite the first one's lock.
  const current = await readHolder();
  if (current && !isStale(current, now())) throw busy(current);
  if (current) await storage.delete(key); // stale: the holder is gone
  try {
    await storage.put(key, body(), { noOverwrite: true });
  } catch (err) {
    if (err instanceof AlreadyExistsError) throw busy(await readHolder().catch(() => null));
    throw err;
  }
  // Read back: of two racing writers on a store without conditional puts, the later write
  // wins, and the earlier one learns here that it does not hold the lock.
  const written = await readHolder();
  if (written?.id !== id) throw busy(written);
  // Heartbeats one after another, each after checking the lock is still ours: a holder cut off
  // from the store for longer than STALE_MS may have been taken over, and must not write over
  // its successor's lock (nor, on release, delete it).
  let lost = false;
  let beating: Promise<void> = Promise.resolve();
  const beat = async () => {
    const holder = await readHolder().catch(() => undefined);
    if (holder === undefined) return; // the store did not answer: try again next time
    if (holder?.id !== id) {
      lost = true;
      clearInterval(timer);
      spec.onLost?.(holder);
      return;
    }
    await storage.put(key, body()).catch(() => undefined);
  };
  const timer = setInterval(() => {
    beating = beating.then(beat);
  }, spec.heartbeatMs ?? HEARTBEAT_MS);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await beating;
      if (lost) return;
      const holder = await readHolder().catch(() => null);
      if (holder === null || holder.id === id) await storage.delete(key);
    },
  };
}

function isStale(holder: LockHolder, now: Date): boolean {
  const here = holder.pidSpace !== undefined ? holder.pidSpace === pidSpace() : holder.host === hostname();
  if (here && !processAlive(holder.pid)) return true;
  return now.getTime() - new Date(holder.heartbeatAt).getTime() > STALE_MS;
}
