// The expire use case over an invented file:// repository: which objects go, in which order,
// and what a killed run left that the next one removes (data without a manifest, pins and
// verify results of backups that no longer exist).
import { describe, expect, it } from 'vitest';
import { expire } from '../../src/expire/expire.js';
import { createLogger } from '../../src/log.js';
import { LOCK_KEY } from '../../src/repository/backup-lock.js';
import { listBackups, writeManifest } from '../../src/repository/backups.js';
import { pinBackup } from '../../src/repository/pins.js';
import { recordBackupVerification } from '../../src/repository/verify-results.js';
import { FileStorage } from '../../src/storage/file.js';
import type { Storage } from '../../src/storage/storage.js';
import { segmentName, testBackup } from '../support/backups.js';
import { tempDir } from '../../tools/harness/env.js';

const log = createLogger('silent', 'expire', false);
const walKey = (n: number) => `wal/0000000100000000/${segmentName(1, n)}`;

async function repository(
  onDelete: (key: string, storage: Storage) => Promise<void> = async () => undefined,
): Promise<{ storage: FileStorage; deleted: string[]; recording: Storage }> {
  const storage = await FileStorage.open(await tempDir('expire'), false);
  // Ids in the opposite order of stop times: a reset clock named the newest backups first.
  const backups = [
    testBackup('c-oldest', 1, 2, '2026-01-01T00:00:00Z'),
    testBackup('b-middle', 3, 4, '2026-01-02T00:00:00Z'),
    testBackup('a-newest', 5, 6, '2026-01-03T00:00:00Z'),
  ];
  for (const b of backups) {
    await storage.put(`backups/${b.id}/base.tar.lz4`, Buffer.from('data'));
    await writeManifest(storage, b);
    await recordBackupVerification(storage, { backup: b.id, verifiedAt: '2026-01-04T00:00:00Z', result: 'passed', problems: 0 });
  }
  for (let n = 1; n <= 7; n++) await storage.put(walKey(n), Buffer.from('wal'));
  await storage.put('wal/00000002.history', Buffer.from('1\t0/1000000\tno reason\n'));
  // What a killed run left: data without a manifest, a pin and a verify result of a gone backup.
  await storage.put('backups/killed/base.tar.lz4', Buffer.from('data'));
  await pinBackup(storage, 'gone');
  await recordBackupVerification(storage, { backup: 'gone', verifiedAt: '2026-01-04T00:00:00Z', result: 'passed', problems: 0 });
  const deleted: string[] = [];
  const recording = new Proxy(storage, {
    get(target, prop, receiver) {
      if (prop === 'delete')
        return async (key: string) => {
          if (!key.startsWith('locks/')) deleted.push(key); // the backup lock expire holds
          await target.delete(key);
          await onDelete(key, target);
        };
      if (prop === 'deleteMany')
        return async (keys: string[]) => {
          deleted.push(...keys);
          await target.deleteMany(keys);
        };
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
  return { storage, deleted, recording };
}

const keys = async (storage: Storage) => (await storage.list('')).objects.map((o) => o.key).sort();

describe('expire', () => {
  it('removes leftovers, then each expired backup manifest first, then its WAL oldest first', async () => {
    const { storage, deleted, recording } = await repository();
    const report = await expire(recording, { rules: { timeZone: 'UTC', full: 1 }, dryRun: false, log, now: new Date('2026-02-01Z') });
    expect(report.expired.map((e) => e.id)).toEqual(['c-oldest', 'b-middle']);
    expect(report.leftovers).toMatchObject({ backups: ['killed'], pins: ['gone'], verifications: ['gone'] });
    expect(deleted).toEqual([
      'backups/killed/base.tar.lz4',
      'pins/gone.json',
      'verify/backups/gone.json',
      'backups/c-oldest/manifest.json',
      'backups/c-oldest/base.tar.lz4',
      'verify/backups/c-oldest.json',
      'backups/b-middle/manifest.json',
      'backups/b-middle/base.tar.lz4',
      'verify/backups/b-middle.json',
      walKey(1),
      walKey(2),
      walKey(3),
      walKey(4),
      'expire/intent.json', // what it set out to remove, written before the first deletion: done
    ]);
    expect(report.objects).toBe(deleted.length - 1);
    expect(await keys(storage)).toEqual([
      'backups/a-newest/base.tar.lz4',
      'backups/a-newest/manifest.json',
      'verify/backups/a-newest.json',
      walKey(5),
      walKey(6),
      walKey(7),
      'wal/00000002.history',
    ]);
  });

  it('a backup pinned while expire runs is kept, and so is all WAL', async () => {
    const { storage, deleted, recording } = await repository(async (key, target) => {
      if (key === 'backups/c-oldest/manifest.json') await pinBackup(target, 'b-middle');
    });
    const report = await expire(recording, { rules: { timeZone: 'UTC', full: 1 }, dryRun: false, log, now: new Date('2026-02-01Z') });
    expect(report.expired.map((e) => e.id)).toEqual(['c-oldest']);
    expect(deleted.filter((k) => k.startsWith('wal/'))).toEqual([]);
    expect(await keys(storage)).toContain('backups/b-middle/manifest.json');
  });

  it('killed after any number of deletes: nothing listed lacks its data or WAL, and the next run ends where one whole run does', async () => {
    const whole = await repository();
    const rules = { timeZone: 'UTC', full: 1 };
    const now = new Date('2026-02-01Z');
    await expire(whole.storage, { rules, dryRun: false, log, now });
    const end = await keys(whole.storage);
    for (let n = 0; n < 13; n++) {
      // 13 deletes is the whole run (the first test).
      const { storage } = await repository();
      let left = n;
      const dying = new Proxy(storage, {
        get(target, prop, receiver) {
          if (prop === 'delete' || prop === 'deleteMany')
            return async (arg: string | string[]) => {
              const keys = (Array.isArray(arg) ? arg : [arg]).filter((k) => !k.startsWith('locks/'));
              const some = keys.slice(0, left);
              left -= some.length;
              await target.deleteMany(some);
              if (some.length < keys.length) throw new Error('killed');
            };
          const value = Reflect.get(target, prop, receiver) as unknown;
          return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
        },
      });
      await expire(dying, { rules, dryRun: false, log, now }).then(
        () => expect.fail(`a run with ${n} deletes finished`),
        (err: Error) => expect(err.message).toBe('killed'),
      );
      const stored = new Set(await keys(storage));
      for (const b of await listBackups(storage)) {
        expect(stored.has(`backups/${b.id}/base.tar.lz4`), `${b.id} after ${n} deletes`).toBe(true);
        const from = Number.parseInt(b.startWal.slice(16), 16);
        for (let seg = from; seg <= 7; seg++) expect(stored.has(walKey(seg)), `${walKey(seg)} after ${n} deletes`).toBe(true);
      }
      await storage.delete(LOCK_KEY); // the lock of a killed process goes stale (backup-lock.ts)
      await expire(storage, { rules, dryRun: false, log, now });
      expect(await keys(storage), `after ${n} deletes and a second run`).toEqual(end);
    }
  });

  it('a damaged intent left by a killed run does not stop the next run, which replaces and then clears it', async () => {
    const { storage, recording } = await repository();
    await storage.put('expire/intent.json', Buffer.from('{"format":1,"startedAt":'));
    const report = await expire(recording, { rules: { timeZone: 'UTC', full: 1 }, dryRun: false, log, now: new Date('2026-02-01Z') });
    expect(report.expired.map((e) => e.id)).toEqual(['c-oldest', 'b-middle']);
    expect(await storage.get('expire/intent.json')).toBeNull();
  });

  it('--dry-run and a repository without rules delete nothing', async () => {
    const { storage, deleted, recording } = await repository();
    const before = await keys(storage);
    const dry = await expire(recording, { rules: { timeZone: 'UTC', full: 1 }, dryRun: true, log });
    expect(dry.expired).toHaveLength(2);
    const none = await expire(recording, { rules: { timeZone: 'UTC' }, dryRun: false, log });
    expect(none).toMatchObject({ ruleSet: false, expired: [], objects: 0, leftovers: { backups: [] } });
    expect(deleted).toEqual([]);
    expect(await keys(storage)).toEqual(before);
  });
});
