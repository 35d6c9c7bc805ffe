// The agent's reads of a repository: it looks at wal/ and every backup manifest at each health
// watch (every minute) and for its API, and a repository of 100,000 WAL objects and 1,000
// backups is 100 LIST and 1,000 GET requests on S3 each time. What cannot have changed since
// the last look is kept instead:
//
// - WAL: one delimiter listing of wal/ (its logs and history files) every time; then a log
//   (wal/<timeline><log>/, up to 256 segments) is listed again, and its inventory made again,
//   only when it may have changed (the whole is joined from the logs' parts, wal-parts.ts):
//   on file://, when its directory's times changed (storage changeToken); on S3, where nothing
//   tells, when it is the newest log of its timeline (PostgreSQL archives in order) or was within
//   SETTLE_MS (the resident archiver stores a few at once, so the first segment of the next log
//   can land before the last ones of this one). On both, every log is listed again after each
//   job the agent ran (an expire removes WAL anywhere) and every FULL_LIST_MS: WAL pushed,
//   removed or damaged by hand in an older log, or a mount whose directory times say nothing
//   (FUSE), shows by then.
// - Backups: one recursive listing of backups/ every time on S3 (two objects a backup), on
//   file:// a change token per backup directory; a manifest is read again only when its size
//   or time changed. Manifests are written once, never replaced (backups.ts), and one that is
//   gone is gone from the listing. The same for each backup's last verification
//   (verify/backups/), which verify rewrites.
//
// A read under way when forget() is called still answers those who asked before, but is not
// kept, and those who ask after get a read of their own.
import { byStopTime, readManifestAt, BACKUP_PREFIX } from './backups.js';
import { readBackupVerificationAt, VERIFIED_BACKUPS_PREFIX } from './verify-results.js';
import { WAL_PREFIX } from './layout.js';
import type { RepositoryReads } from './repository-reads.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';
import { walInventory, type WalInventory, type WalView } from './wal-inventory.js';
import { joinWalParts } from './wal-parts.js';

/** Every log is listed again at least this often. */
export const FULL_LIST_MS = 10 * 60_000;
/** Without change tokens, a log is listed again for this long after it was last its timeline's newest. */
export const SETTLE_MS = 5 * 60_000;
/** Logs listed at once. */
const LISTS_AT_ONCE = 8;

interface KeptLog {
  /** The log's own inventory (walInventory of its listing, verified). */
  inventory: WalInventory;
  /** The store's change token when listed (file://), else null. */
  token: string | null;
}

export interface KeptReads extends RepositoryReads {
  /** The next reads list everything again (after a job that may have added or removed objects anywhere). */
  forget(): void;
}

export function keptReads(storage: Storage, now: () => number = () => performance.now()): KeptReads {
  // What the last read that no forget() followed found: a read uses it only if it is of its generation.
  let kept: { generation: number; logs: ReadonlyMap<string, KeptLog>; segmentSize: number; listedAllAt: number } | null = null;
  // When each log was last seen as its timeline's newest: kept through forget(), which drops
  // what was listed, not what was seen (a log's last segments can still land after a job).
  const newestSeen = new Map<string, number>();
  const gate = readGate<WalView, number>(async (generation, segmentSize) => {
    const base = kept?.generation === generation && kept.segmentSize === segmentSize ? kept : null;
    const startedAt = now();
    const listAll = !base || startedAt - base.listedAllAt >= FULL_LIST_MS;
    const top = await storage.list(WAL_PREFIX, { delimiter: '/' });
    const logs = logsByTimeline(top.prefixes);
    const newestAt = settleClock(newestSeen, logs, startedAt);
    const next = new Map<string, KeptLog>();
    await eachAtMost(LISTS_AT_ONCE, [...logs.values()].flat(), async (prefix) => {
      const held = base?.logs.get(prefix);
      let token: string | null = null;
      if (held && !listAll) {
        if (storage.changeToken) {
          token = await storage.changeToken(prefix);
          if (token !== null && token === held.token) return void next.set(prefix, held);
        } else if (startedAt - newestAt(prefix) >= SETTLE_MS) return void next.set(prefix, held);
      } else if (storage.changeToken) token = await storage.changeToken(prefix);
      const listing = (await storage.list(prefix)).objects;
      next.set(prefix, { inventory: await walInventory(storage, segmentSize, { verify: true, listing }), token });
    });
    if (gate.current(generation)) kept = { generation, logs: next, segmentSize, listedAllAt: listAll ? startedAt : base!.listedAllAt };
    const byLog = new Map<string, WalInventory>();
    for (const [prefix, log] of next) byLog.set(prefix.slice(WAL_PREFIX.length, -1), log.inventory);
    return joinWalParts(await walInventory(storage, segmentSize, { verify: true, listing: top.objects }), byLog, segmentSize);
  });

  const manifests = keptDocuments(storage, BACKUP_PREFIX, 'dir-each', /^backups\/[^/]+\/manifest\.json$/, (key) =>
    readManifestAt(storage, key),
  );
  const verifications = keptDocuments(storage, VERIFIED_BACKUPS_PREFIX, 'flat', /\.json$/, (key) => readBackupVerificationAt(storage, key));

  return {
    walInventory: (segmentSize) => gate.read(segmentSize),
    backups: async () => (await manifests.read()).sort(byStopTime),
    backupVerifications: async () => new Map((await verifications.read()).map((e) => [e.backup, e])),
    forget() {
      gate.forget();
      manifests.forget();
      verifications.forget();
    },
  };
}

/**
 * One read at a time, shared by those who ask while it runs, except those who ask after
 * forget(): they get a read of their own, started once the one under way ends. A read is told
 * its generation; `current(generation)` says whether no forget() came since it began (only
 * then may it keep what it read).
 */
function readGate<T, A>(read: (generation: number, arg: A) => Promise<T>) {
  let generation = 0;
  let under: { generation: number; promise: Promise<T> } | null = null;
  return {
    read(arg: A): Promise<T> {
      if (under?.generation === generation) return under.promise;
      // Only its end, not its answer: the previous inventory need not live on through this read.
      const before = under?.promise.then(
        () => undefined,
        () => undefined,
      );
      const mine = generation;
      const entry: { generation: number; promise?: Promise<T> } = { generation: mine };
      entry.promise = (async () => {
        try {
          await before; // also lets `under` below be set before this body goes on
          return await read(mine, arg);
        } finally {
          // Before those who wait see the answer: one who asks then gets a new read.
          if (under === entry) under = null;
        }
      })();
      under = entry as { generation: number; promise: Promise<T> };
      return entry.promise;
    },
    current: (g: number) => g === generation,
    forget: () => void generation++,
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
  // What the last read that no forget() followed found, by directory.
  let kept = { generation: 0, dirs: new Map<string, { token: string | null; docs: Map<string, KeptDoc<T>> }>() };
  const dirOf = (key: string) => key.slice(0, key.lastIndexOf('/') + 1);

  /** The documents of one directory as `objects` lists them, reading only what changed (a few at once). */
  const refresh = async (held: Map<string, KeptDoc<T>> | undefined, objects: ObjectInfo[]) => {
    const docs = new Map<string, KeptDoc<T>>();
    await eachAtMost(
      LISTS_AT_ONCE,
      objects.filter((o) => pattern.test(o.key)),
      async (o) => {
        const modified = o.modified.getTime();
        const was = held?.get(o.key);
        if (was && was.size === o.size && was.modified === modified) return void docs.set(o.key, was);
        const value = await read(o.key);
        if (value !== null) docs.set(o.key, { size: o.size, modified, value }); // null: removed since the listing
      },
    );
    return docs;
  };

  const gate = readGate<T[], void>(async (generation) => {
    const base = kept.generation === generation ? kept.dirs : new Map<string, { token: string | null; docs: Map<string, KeptDoc<T>> }>();
    const next = new Map<string, { token: string | null; docs: Map<string, KeptDoc<T>> }>();
    const changeToken = storage.changeToken?.bind(storage);
    if (changeToken) {
      const dirs = layout === 'flat' ? [prefix] : (await storage.list(prefix, { delimiter: '/' })).prefixes;
      await eachAtMost(LISTS_AT_ONCE, dirs, async (dir) => {
        const token = await changeToken(dir);
        const held = base.get(dir);
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
        next.set(dir, { token: null, docs: await refresh(base.get(dir)?.docs, objects) });
      });
    }
    if (gate.current(generation)) kept = { generation, dirs: next };
    return [...next.values()].flatMap((d) => [...d.docs.values()].map((e) => e.value));
  });
  return { read: () => gate.read(), forget: () => gate.forget() };
}

/**
 * When each log was last its timeline's newest, as far as it matters for SETTLE_MS: the newest
 * now; one seen before, as seen; one that appeared while not the newest (the archiver catching
 * up, or more than a log of WAL between two reads) as if newest now. On the first read of a
 * timeline, the log before its newest counts as newest now too: its last segments may still
 * be landing. Updates `seen` (and forgets logs that are gone).
 */
function settleClock(seen: Map<string, number>, logs: ReadonlyMap<string, readonly string[]>, now: number) {
  const known = new Set([...seen.keys()].map(timelineOf));
  const present = new Set([...logs.values()].flat());
  for (const p of [...seen.keys()]) if (!present.has(p)) seen.delete(p);
  for (const [timeline, prefixes] of logs)
    for (const [i, p] of prefixes.entries()) {
      if (i === prefixes.length - 1) seen.set(p, now);
      else if (!seen.has(p)) seen.set(p, !known.has(timeline) && i < prefixes.length - 2 ? -Infinity : now);
    }
  return (prefix: string) => seen.get(prefix) ?? -Infinity;
}

const timelineOf = (prefix: string) => prefix.slice(WAL_PREFIX.length, WAL_PREFIX.length + 8);

/**
 * The log directories (wal/<timeline 8 hex><log 8 hex>/) among `prefixes`, oldest first, by
 * timeline. Nothing else: a directory set aside by hand (wal/0000000100000001-old/) is not read.
 */
function logsByTimeline(prefixes: readonly string[]): Map<string, string[]> {
  const logs = new Map<string, string[]>();
  for (const p of [...prefixes].sort()) {
    if (!/^[0-9A-F]{16}\/$/.test(p.slice(WAL_PREFIX.length))) continue;
    const ofTimeline = logs.get(timelineOf(p));
    if (ofTimeline) ofTimeline.push(p);
    else logs.set(timelineOf(p), [p]);
  }
  return logs;
}

/** `work` on every item, at most `limit` at once; after a failure no more is started, and it rejects once every started one has ended. */
async function eachAtMost<T>(limit: number, items: readonly T[], work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length)
      await work(items[next++]!).catch((err: unknown) => {
        failed = true;
        throw err;
      });
  };
  const ended = await Promise.allSettled(Array.from({ length: Math.min(limit, items.length) }, worker));
  const failure = ended.find((e) => e.status === 'rejected');
  if (failure) throw failure.reason;
}
