// The agent's reads of a repository: it looks at wal/ and every backup manifest at each health
// watch (every minute) and for its API, and a repository of 100,000 WAL objects and 1,000
// backups is 100 LIST and 1,000 GET requests on S3 each time. What cannot have changed since
// the last look is kept instead:
//
// - WAL: one delimiter listing of wal/ (its logs and history files) every time; then a log
//   (wal/<timeline><log>/, up to 256 segments) is listed again only when it may have changed.
//   On file:// that is exact: its directory's times changed (storage changeToken). On S3,
//   where nothing tells, PostgreSQL writes into the newest log of each timeline only: that
//   log, and one that was the newest when last listed, are listed again each time; every log
//   is listed again after each job the agent ran (an expire removes WAL anywhere) and every
//   FULL_LIST_MS (WAL pushed or removed by hand in an older log shows by then).
// - Backups: one recursive listing of backups/ every time (two objects a backup); a manifest
//   is read again only when its size or time changed. Manifests are written once, never
//   replaced (backups.ts), and one that is gone is gone from the listing. The same for each
//   backup's last verification (verify/backups/), which verify rewrites.
import { byStopTime, readManifestAt, BACKUP_PREFIX } from './backups.js';
import { readBackupVerificationAt, VERIFIED_BACKUPS_PREFIX } from './verify-results.js';
import { WAL_PREFIX } from './layout.js';
import type { RepositoryReads } from './repository-reads.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';

/** On a store without change tokens (S3), every log is listed again at least this often. */
export const FULL_LIST_MS = 10 * 60_000;
/** Logs listed at once. */
const LISTS_AT_ONCE = 8;

interface KeptLog {
  objects: ObjectInfo[];
  /** The store's change token when listed (file://), else null. */
  token: string | null;
  /** It was its timeline's newest log when listed: PostgreSQL may have added to it since. */
  wasNewest: boolean;
}

export interface KeptReads extends RepositoryReads {
  /** The next reads list everything again (after a job that may have added or removed objects anywhere). */
  forget(): void;
}

export function keptReads(storage: Storage, now: () => number = Date.now): KeptReads {
  const logs = new Map<string, KeptLog>();
  let listedAllAt = -Infinity;
  // Set by forget(); honoured by the next read, not by one under way (it may predate the job).
  let forgetWal = false;
  // One read at a time: a watch and an API request asking together share it.
  let walReading: Promise<ObjectInfo[]> | null = null;

  const readWal = async (): Promise<ObjectInfo[]> => {
    if (forgetWal) {
      logs.clear();
      listedAllAt = -Infinity;
      forgetWal = false;
    }
    const startedAt = now();
    const listAll = !storage.changeToken && startedAt - listedAllAt >= FULL_LIST_MS;
    const top = await storage.list(WAL_PREFIX, { delimiter: '/' });
    const newest = newestLogOfEachTimeline(top.prefixes);
    const present = new Set(top.prefixes);
    for (const prefix of logs.keys()) if (!present.has(prefix)) logs.delete(prefix);
    await eachAtMost(LISTS_AT_ONCE, top.prefixes, async (prefix) => {
      const kept = logs.get(prefix);
      const isNewest = newest.has(prefix);
      let token: string | null = null;
      if (storage.changeToken) {
        token = await storage.changeToken(prefix);
        if (kept && token !== null && token === kept.token) return;
      } else if (kept && !listAll && !isNewest && !kept.wasNewest) return;
      logs.set(prefix, { objects: (await storage.list(prefix)).objects, token, wasNewest: isNewest });
    });
    if (listAll) listedAllAt = startedAt;
    const objects = [...top.objects];
    for (const prefix of [...logs.keys()].sort()) objects.push(...logs.get(prefix)!.objects);
    return objects;
  };

  const manifests = keptDocuments(storage, BACKUP_PREFIX, /^backups\/[^/]+\/manifest\.json$/, (key) => readManifestAt(storage, key));
  const verifications = keptDocuments(storage, VERIFIED_BACKUPS_PREFIX, /\.json$/, (key) => readBackupVerificationAt(storage, key));

  return {
    walObjects: () => (walReading ??= readWal().finally(() => (walReading = null))),
    backups: async () => (await manifests.read()).sort(byStopTime),
    backupVerifications: async () => new Map((await verifications.read()).map((e) => [e.backup, e])),
    forget() {
      forgetWal = true;
      manifests.forget();
      verifications.forget();
    },
  };
}

/**
 * Documents written once under `prefix` (those whose key matches): one listing each time, a
 * document read again only when its size or time changed, one that is gone forgotten.
 */
function keptDocuments<T>(storage: Storage, prefix: string, pattern: RegExp, read: (key: string) => Promise<T | null>) {
  let kept = new Map<string, { size: number; modified: number; value: T }>();
  let forgetPending = false;
  let reading: Promise<T[]> | null = null;
  const readAll = async (): Promise<T[]> => {
    if (forgetPending) {
      kept = new Map();
      forgetPending = false;
    }
    const listed = (await storage.list(prefix)).objects.filter((o) => pattern.test(o.key));
    const next = new Map<string, { size: number; modified: number; value: T }>();
    await eachAtMost(LISTS_AT_ONCE, listed, async (o) => {
      const held = kept.get(o.key);
      const modified = o.modified.getTime();
      if (held && held.size === o.size && held.modified === modified) {
        next.set(o.key, held);
        return;
      }
      const value = await read(o.key);
      if (value !== null) next.set(o.key, { size: o.size, modified, value }); // null: removed since the listing
    });
    kept = next;
    return [...next.values()].map((e) => e.value);
  };
  return {
    read: () => (reading ??= readAll().finally(() => (reading = null))),
    forget: () => void (forgetPending = true),
  };
}

/** wal/<timeline 8 hex><log 8 hex>/ prefixes: the newest log of each timeline. */
function newestLogOfEachTimeline(prefixes: readonly string[]): Set<string> {
  const newest = new Map<string, string>();
  for (const prefix of prefixes) {
    const dir = prefix.slice(WAL_PREFIX.length, -1);
    if (!/^[0-9A-F]{16}$/.test(dir)) continue;
    const timeline = dir.slice(0, 8);
    const best = newest.get(timeline);
    if (!best || prefix > best) newest.set(timeline, prefix);
  }
  return new Set(newest.values());
}

async function eachAtMost<T>(limit: number, items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}
