// The agent's kept reads of a repository (repository/kept-reads.ts), against a real file://
// store: with its change tokens (exact: only changed logs are listed again), and the same
// store without them, as S3 is (the newest log of each timeline, the one that was newest,
// everything after forget() and every FULL_LIST_MS). Every answer is compared with a fresh
// listing, and the lists and reads each one made are counted.
import { mkdtemp, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { waitFor } from '../../tools/harness/env.js';
import { writeManifest, type BackupManifest } from '../../src/repository/backups.js';
import { recordBackupVerification } from '../../src/repository/verify-results.js';
import { FULL_LIST_MS, keptReads, SETTLE_MS } from '../../src/repository/kept-reads.js';
import { freshReads } from '../../src/repository/repository-reads.js';
import { FileStorage } from '../../src/storage/file.js';
import { encodeObject, sha256 } from '../../src/codec/object-format.js';
import type { WalView } from '../../src/repository/wal-inventory.js';
import type { Storage } from '../../src/storage/storage.js';

const seg = (log: number, n: number, timeline = 1) => [timeline, log, n].map((x) => x.toString(16).toUpperCase().padStart(8, '0')).join('');
const key = (name: string) => `wal/${name.slice(0, 16)}/${name}`;
const logOf = (name: string) => `wal/${name.slice(0, 16)}/`;

/** The store, counting what is listed (by prefix) and read. */
function counted(storage: FileStorage, withTokens: boolean) {
  const lists: string[] = [];
  let gets = 0;
  const wrapped: Storage = {
    url: storage.url,
    atomicWrites: true,
    get: (k) => (gets++, storage.get(k)),
    getHead: (k, n) => storage.getHead(k, n),
    put: (k, b, o) => storage.put(k, b, o),
    putStream: (k, b) => storage.putStream(k, b),
    getStream: (k) => storage.getStream(k),
    list: (p, o) => (lists.push(p), storage.list(p, o)),
    delete: (k) => storage.delete(k),
    deleteMany: (k) => storage.deleteMany(k),
    ...(withTokens ? { changeToken: (p: string) => storage.changeToken(p) } : {}),
  };
  return {
    storage: wrapped,
    takeLists: () => lists.splice(0).filter((p) => p !== 'wal/' && p !== 'backups/'),
    takeGets: () => [gets, (gets = 0)][0]!,
  };
}

const SEG = 16 * 1024 * 1024;

/** What a reader of an inventory can see of it, in a comparable form. */
function seen(wal: WalView) {
  return {
    timelines: wal.timelines,
    segments: [...wal.segments].sort(),
    archivedAt: [...wal.archivedAt].map(([n, at]) => `${n} ${at.getTime()}`).sort(),
    histories: [...wal.histories].sort(),
    storedBytes: wal.storedBytes,
    lookups: [...wal.segments].every((n) => wal.segments.has(n) && wal.archivedAt.has(n)),
  };
}

/** A whole stored WAL object as wal-push writes it (in the clear, uncompressed). */
function walObject(name: string): Buffer {
  const payload = Buffer.alloc(3000, name.length);
  const sum = sha256(payload);
  return encodeObject(
    { v: 1, name, size: payload.length, compression: 'none', payloadSize: payload.length, payloadSha256: sum, sha256: sum },
    payload,
  );
}

describe('kept reads of a repository', () => {
  let root: string;
  let store: FileStorage;
  beforeEach(async () => {
    root = await mkdtemp(join(tmpdir(), 'pitr-kept-reads-'));
    store = await FileStorage.open(root, false);
    for (const [log, n] of [
      [1, 0xfe],
      [1, 0xff],
      [2, 0],
      [2, 1],
    ] as const)
      await store.put(key(seg(log, n)), walObject(seg(log, n)));
  });
  afterEach(async () => {
    await rm(root, { recursive: true, force: true });
  });

  /** Sets a log directory's modification time a minute back: not "changed just now" (file.ts RACY_MS). */
  const settle = (log: string) => utimes(join(root, log), new Date(Date.now() - 60_000), new Date(Date.now() - 60_000));

  it('file://: lists again only the logs whose directory changed, and sees every change', async () => {
    const c = counted(store, true);
    const kept = keptReads(c.storage);
    const fresh = freshReads(store);
    expect(seen(await kept.walInventory(SEG))).toEqual(seen(await fresh.walInventory(SEG)));
    expect(c.takeLists().sort()).toEqual([logOf(seg(1, 0)), logOf(seg(2, 0))]);

    await settle(logOf(seg(1, 0)));
    await settle(logOf(seg(2, 0)));
    await kept.walInventory(SEG); // takes the settled tokens
    c.takeLists();
    expect(seen(await kept.walInventory(SEG))).toEqual(seen(await fresh.walInventory(SEG)));
    expect(c.takeLists()).toEqual([]);

    // A segment pushed again into the older log (a gap filled by hand), one removed from the newer.
    await store.put(key(seg(1, 0x10)), walObject(seg(1, 0x10)));
    await store.delete(key(seg(2, 1)));
    await settle(logOf(seg(2, 0)));
    const after = seen(await kept.walInventory(SEG));
    expect(after).toEqual(seen(await fresh.walInventory(SEG)));
    expect(after.segments).toContain(seg(1, 0x10));
    expect(after.segments).not.toContain(seg(2, 1));
    expect(c.takeLists().sort()).toEqual([logOf(seg(1, 0)), logOf(seg(2, 0))]);

    // A whole log gone (expire) and a new timeline begun.
    await store.deleteMany([key(seg(1, 0xfe)), key(seg(1, 0xff)), key(seg(1, 0x10))]);
    await rm(join(root, logOf(seg(1, 0))), { recursive: true, force: true });
    await store.put(key(seg(2, 2, 2)), walObject(seg(2, 2, 2)));
    expect(seen(await kept.walInventory(SEG))).toEqual(seen(await fresh.walInventory(SEG)));
  });

  it('without change tokens (S3): the newest log, and the one that was newest for SETTLE_MS, each time; the rest after forget() or FULL_LIST_MS', async () => {
    const c = counted(store, false);
    let clock = 1_000_000;
    const kept = keptReads(c.storage, () => clock);
    const fresh = freshReads(store);
    expect(seen(await kept.walInventory(SEG))).toEqual(seen(await fresh.walInventory(SEG)));
    // The first read lists the newest log and the one before it again for SETTLE_MS.
    expect(c.takeLists().sort()).toEqual([logOf(seg(1, 0)), logOf(seg(2, 0))]);
    await kept.walInventory(SEG);
    expect(c.takeLists().sort()).toEqual([logOf(seg(1, 0)), logOf(seg(2, 0))]);
    clock += SETTLE_MS;
    await kept.walInventory(SEG);
    expect(c.takeLists()).toEqual([logOf(seg(2, 0))]);

    // PostgreSQL finishes log 2 and begins log 3 between two watches.
    await store.put(key(seg(2, 0xff)), walObject(seg(2, 0xff)));
    await store.put(key(seg(3, 0)), walObject(seg(3, 0)));
    expect(seen(await kept.walInventory(SEG))).toEqual(seen(await fresh.walInventory(SEG)));
    expect(c.takeLists().sort()).toEqual([logOf(seg(2, 0)), logOf(seg(3, 0))]);
    // The archiver stores a few at once: log 2's last segments may land after log 3's first.
    await store.put(key(seg(2, 0xfe)), walObject(seg(2, 0xfe)));
    expect(seen(await kept.walInventory(SEG)).segments).toContain(seg(2, 0xfe));
    expect(c.takeLists().sort()).toEqual([logOf(seg(2, 0)), logOf(seg(3, 0))]);
    clock += SETTLE_MS; // also FULL_LIST_MS since the first read: every log once
    await kept.walInventory(SEG);
    expect(c.takeLists().sort()).toEqual([logOf(seg(1, 0)), logOf(seg(2, 0)), logOf(seg(3, 0))]);
    await kept.walInventory(SEG);
    expect(c.takeLists()).toEqual([logOf(seg(3, 0))]);

    // Pushed by hand into an older log: not seen until everything is listed again.
    await store.put(key(seg(1, 0x10)), walObject(seg(1, 0x10)));
    expect(seen(await kept.walInventory(SEG)).segments).not.toContain(seg(1, 0x10));
    expect(c.takeLists()).toEqual([logOf(seg(3, 0))]);
    kept.forget();
    expect(seen(await kept.walInventory(SEG))).toEqual(seen(await fresh.walInventory(SEG)));
    expect(c.takeLists().sort()).toEqual([logOf(seg(1, 0)), logOf(seg(2, 0)), logOf(seg(3, 0))]);

    await store.delete(key(seg(1, 0x10)));
    clock += FULL_LIST_MS - 1;
    c.takeLists();
    expect(seen(await kept.walInventory(SEG)).segments).toContain(seg(1, 0x10));
    clock += 1;
    expect(seen(await kept.walInventory(SEG))).toEqual(seen(await fresh.walInventory(SEG)));
  });

  it('without change tokens (S3): a log whose last segments land after forget(), or after a later log began, is listed until they are seen', async () => {
    const c = counted(store, false);
    let clock = 1_000_000;
    const kept = keptReads(c.storage, () => clock);
    await kept.walInventory(SEG);
    clock += SETTLE_MS;
    await kept.walInventory(SEG); // log 2 the newest now, log 1 settled
    await store.put(key(seg(3, 0)), walObject(seg(3, 0)));
    await kept.walInventory(SEG);
    kept.forget(); // a job ended
    await kept.walInventory(SEG);
    await store.put(key(seg(2, 0xff)), walObject(seg(2, 0xff))); // stored by the archiver after log 3's first
    expect(seen(await kept.walInventory(SEG)).segments).toContain(seg(2, 0xff));

    // The archiver catching up: log 4 first seen when log 5 is already the newest.
    await store.put(key(seg(5, 0)), walObject(seg(5, 0)));
    await store.put(key(seg(4, 0)), walObject(seg(4, 0)));
    await kept.walInventory(SEG);
    await store.put(key(seg(4, 0xff)), walObject(seg(4, 0xff)));
    const now = seen(await kept.walInventory(SEG));
    expect(now.segments).toContain(seg(4, 0xff));
    expect(now).toEqual(seen(await freshReads(store).walInventory(SEG)));
  });

  it('a read asked for after forget() is not the one under way, and what that one read is not kept', async () => {
    let hold: (() => void) | null = null;
    const held = new Promise<void>((resolve) => (hold = resolve));
    let holding = true;
    let reached = false;
    const slow: Storage = {
      ...counted(store, false).storage,
      list: async (p, o) => {
        const listing = await store.list(p, o);
        if (holding && p === logOf(seg(2, 0))) {
          reached = true;
          await held;
        }
        return listing;
      },
    };
    const kept = keptReads(slow);
    const before = kept.walInventory(SEG); // lists log 2, then waits
    await waitFor('the read to reach log 2', async () => reached || undefined);
    await store.delete(key(seg(2, 1))); // an expire the agent ran meanwhile
    kept.forget();
    holding = false;
    const after = kept.walInventory(SEG);
    expect(after).not.toBe(before);
    hold!();
    expect((await before).segments.has(seg(2, 1))).toBe(true); // read before the expire
    expect((await after).segments.has(seg(2, 1))).toBe(false);
    expect(seen(await kept.walInventory(SEG))).toEqual(seen(await freshReads(store).walInventory(SEG)));
  });

  it('a read that fails keeps nothing, and the next one reads again', async () => {
    let fail = true;
    const flaky: Storage = {
      ...counted(store, false).storage,
      list: async (p, o) => {
        if (fail && p === logOf(seg(1, 0))) throw new Error('503 Slow Down');
        return store.list(p, o);
      },
    };
    const kept = keptReads(flaky);
    await expect(kept.walInventory(SEG)).rejects.toThrow(/503/);
    fail = false;
    await store.delete(key(seg(2, 1)));
    expect(seen(await kept.walInventory(SEG))).toEqual(seen(await freshReads(store).walInventory(SEG)));
  });

  for (const tokens of [false, true])
    it(`reads a backup manifest and verification once, and sees them come and go (${tokens ? 'file://' : 'S3'})`, async () => {
      const c = counted(store, tokens);
      const kept = keptReads(c.storage);
      const ids = async () => (await kept.backups()).map((b) => b.id);
      for (const id of ['20261201T000000Z', '20261202T000000Z']) await writeManifest(store, manifest(id));
      expect(await ids()).toEqual(['20261201T000000Z', '20261202T000000Z']);
      expect(c.takeGets()).toBe(2);
      expect(await ids()).toEqual(['20261201T000000Z', '20261202T000000Z']);
      expect(c.takeGets()).toBe(0);

      await store.delete('backups/20261201T000000Z/manifest.json'); // expire removes the manifest first
      await writeManifest(store, manifest('20261203T000000Z'));
      expect(await ids()).toEqual(['20261202T000000Z', '20261203T000000Z']);
      expect(c.takeGets()).toBe(1);
      expect(await kept.backups()).toEqual(await freshReads(store).backups());

      const verified = { backup: '20261202T000000Z', verifiedAt: '2026-12-04T00:00:00.000Z', problems: 0 };
      await recordBackupVerification(store, { ...verified, result: 'passed' });
      expect((await kept.backupVerifications()).get('20261202T000000Z')?.result).toBe('passed');
      c.takeGets();
      await kept.backupVerifications();
      expect(c.takeGets()).toBe(0);
      await recordBackupVerification(store, { ...verified, result: 'failed', problems: 2 }); // verify rewrites it
      expect((await kept.backupVerifications()).get('20261202T000000Z')).toMatchObject({ result: 'failed', problems: 2 });
      expect(await kept.backupVerifications()).toEqual(await freshReads(store).backupVerifications());
    });
});

function manifest(id: string): BackupManifest {
  const day = id.slice(6, 8);
  return {
    format: 1,
    id,
    label: `pitr backup ${id}`,
    pitrVersion: 'test',
    systemIdentifier: '7000000000000000001',
    pgVersion: 15,
    timeline: 1,
    startLsn: `0/${day}000028`,
    stopLsn: `0/${day}000100`,
    startWal: seg(0, Number(day)),
    stopWal: seg(0, Number(day)),
    startTime: `2026-12-${day}T00:00:00.000Z`,
    stopTime: `2026-12-${day}T00:01:00.000Z`,
    durationMs: 60_000,
    files: [
      {
        key: `backups/${id}/base.tar.lz4`,
        name: 'base.tar',
        compression: 'lz4',
        size: 1000,
        storedSize: 100,
        storedSha256: 'a'.repeat(64),
      },
    ],
  };
}
