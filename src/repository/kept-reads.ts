// The agent's reads of a repository: it looks at wal/ and every backup manifest at each health
// watch (every minute) and for its API, and a repository of 100,000 WAL objects and 1,000
// backups is 100 LIST and 1,000 GET requests on S3 each time. What cannot have changed since
// the last look is kept instead:
//
// - WAL: one delimiter listing of wal/ (its logs and history files) every time; then a log
//   (wal/<timeline><log>/, up to 256 segments) is listed again, and its inventory made again,
//   only when it may have changed (the whole is joined from the logs' parts, wal-parts.ts).
//   On file:// that is exact: its directory's times changed (storage changeToken). On S3,
//   where nothing tells, PostgreSQL writes into the newest log of each timeline only: that
//   log, and one that was the newest when last listed, are listed again each time; every log
//   is listed again after each job the agent ran (an expire removes WAL anywhere) and every
//   FULL_LIST_MS (WAL pushed or removed by hand in an older log shows by then).
// - Backups: one recursive listing of backups/ every time on S3 (two objects a backup), on
//   file:// a change token per backup directory; a manifest is read again only when its size
//   or time changed. Manifests are written once, never
//   replaced (backups.ts), and one that is gone is gone from the listing. The same for each
//   backup's last verification (verify/backups/), which verify rewrites.
import { byStopTime, readManifestAt, BACKUP_PREFIX } from './backups.js';
import { readBackupVerificationAt, VERIFIED_BACKUPS_PREFIX } from './verify-results.js';
import { WAL_PREFIX } from './layout.js';
import type { RepositoryReads } from './repository-reads.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';
import { walInventory, type WalInventory, type WalView } from './wal-inventory.js';
import { joinWalParts } from './wal-parts.js';

/** On a store without change tokens (S3), every log is listed again at least this often. */
export const FULL_LIST_MS = 10 * 60_000;
/** Logs listed at once. */
const LISTS_AT_ONCE = 8;

interface KeptLog {
  /** The log's own inventory (walInventory of its listing, verified). */
  inventory: WalInventory;
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
  let keptSegmentSize = 0;
  let listedAllAt = -Infinity;
  // Set by forget(); honoured by the next read, not by one under way (it may predate the job).
  let forgetWal = false;
  // One read at a time: a watch and an API request asking together share it.
  let walReading: Promise<WalView> | null = null;

  const readWal = async (segmentSize: number): Promise<WalView> => {
    if (forgetWal || segmentSize !== keptSegmentSize) {
      logs.clear();
      listedAllAt = -Infinity;
      forgetWal = false;
      keptSegmentSize = segmentSize;
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
      const listing = (await storage.list(prefix)).objects;
      logs.set(prefix, { inventory: await walInventory(storage, segmentSize, { verify: true, listing }), token, wasNewest: isNewest });
    });
    if (listAll) listedAllAt = startedAt;
    const byLog = new Map<string, WalInventory>();
    for (const [prefix, log] of logs) byLog.set(prefix.slice(WAL_PREFIX.length, -1), log.inventory);
    return joinWalParts(await walInventory(storage, segmentSize, { verify: true, listing: top.objects }), byLog, segmentSize);
  };

  const manifests = keptDocuments(storage, BACKUP_PREFIX, 'dir-each', /^backups\/[^/]+\/manifest\.json$/, (key) =>
    readManifestAt(storage, key),
  );
  const verifications = keptDocuments(storage, VERIFIED_BACKUPS_PREFIX, 'flat', /\.json$/, (key) => readBackupVerificationAt(storage, key));

  return {
    walInventory: (segmentSize) => (walReading ??= readWal(segmentSize).finally(() => (walReading = null))),
    backups: async () => (await manifests.read()).sort(byStopTime),
    backupVerifications: async () => new Map((await verifications.read()).map((e) => [e.backup, e])),
    forget() {
      forgetWal = true;
      manifests.forget();
      verifications.forget();
    },
  };
}

interface KeptDoc<T> {
  size: number;
  modified: number;
  value: T;
}

/**
 * Documents under `prefix` whose key matches `pattern`, each in a directory of its own
 * (`'dir-each'`: backups/<id>/manifest.json) or all in `prefix` itself (`'flat'`): a document is
 * read again only when its size or time changed, one that is gone is forgotten. On file:// a
 * directory whose change token is unchanged is not even listed; elsewhere (S3) one listing of
 * `prefix` each time.
 */
function keptDocuments<T>(
  storage: Storage,
  prefix: string,
  layout: 'flat' | 'dir-each',
  pattern: RegExp,
  read: (key: string) => Promise<T | null>,
) {
  let kept = new Map<string, { token: string | null; docs: Map<string, KeptDoc<T>> }>();
  let forgetPending = false;
  let reading: Promise<T[]> | null = null;
  const dirOf = (key: string) => key.slice(0, key.lastIndexOf('/') + 1);

  /** The documents of one directory as `objects` lists them, reading only what changed. */
  const refresh = async (held: Map<string, KeptDoc<T>> | undefined, objects: ObjectInfo[]) => {
    const docs = new Map<string, KeptDoc<T>>();
    for (const o of objects.filter((x) => pattern.test(x.key))) {
      const modified = o.modified.getTime();
      const was = held?.get(o.key);
      if (was && was.size === o.size && was.modified === modified) docs.set(o.key, was);
      else {
        const value = await read(o.key);
        if (value !== null) docs.set(o.key, { size: o.size, modified, value }); // null: removed since the listing
      }
    }
    return docs;
  };

  const readAll = async (): Promise<T[]> => {
    if (forgetPending) {
      kept = new Map();
      forgetPending = false;
    }
    const next = new Map<string, { token: string | null; docs: Map<string, KeptDoc<T>> }>();
    const changeToken = storage.changeToken?.bind(storage);
    if (changeToken) {
      const dirs = layout === 'flat' ? [prefix] : (await storage.list(prefix, { delimiter: '/' })).prefixes;
      await eachAtMost(LISTS_AT_ONCE, dirs, async (dir) => {
        const token = await changeToken(dir);
        const held = kept.get(dir);
        if (held && token !== null && token === held.token) next.set(dir, held);
        else next.set(dir, { token, docs: await refresh(held?.docs, (await storage.list(dir)).objects) });
      });
    } else {
      const byDir = new Map<string, ObjectInfo[]>();
      for (const o of (await storage.list(prefix)).objects) {
        const dir = dirOf(o.key);
        const objects = byDir.get(dir);
        if (objects) objects.push(o);
        else byDir.set(dir, [o]);
      }
      await eachAtMost(LISTS_AT_ONCE, [...byDir], async ([dir, objects]) => {
        next.set(dir, { token: null, docs: await refresh(kept.get(dir)?.docs, objects) });
      });
    }
    kept = next;
    return [...next.values()].flatMap((d) => [...d.docs.values()].map((e) => e.value));
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
