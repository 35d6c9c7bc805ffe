// `pitr expire`: applies the retention policy (repository/retention.ts) to a repository.
//
// The order makes a run killed at any moment harmless, and the next run finishes the job:
//   1. the backup lock (repository/backup-lock.ts): nothing while a backup runs, and no backup
//      starts while expire deletes;
//   2. leftovers of a killed run: backups/<id>/ without manifest.json (no backup is running, we
//      hold the lock, so nothing is writing one), then pins and verify results of backups
//      that no longer exist;
//   3. each expired backup, oldest first: its manifest first, so it leaves `list` and
//      `restore` before any of its data goes, then its data, then its verify result;
//   4. WAL, oldest first, only once every backup that needed it is gone from `list`.
// Before the first deletion it records what it is removing (repository/expire-intent.ts), and
// clears that after the last: between, verify tells WAL being removed from WAL lost.
import type { Logger } from '../log.js';
import { acquireBackupLock, type HeldLock } from '../repository/backup-lock.js';
import { BACKUP_PREFIX, listBackups, manifestKey, type BackupManifest } from '../repository/backups.js';
import { clearExpireIntent, mergeIntents, readExpireIntent, walRuns, writeExpireIntent } from '../repository/expire-intent.js';
import { readIdentity } from '../repository/identity.js';
import { WAL_PREFIX } from '../repository/layout.js';
import { isPinned, PINS_PREFIX } from '../repository/pins.js';
import { anyRuleSet, applyRetention, expiredWal, type KeepReason, type RetentionRules } from '../repository/retention.js';
import { VERIFIED_BACKUPS_PREFIX } from '../repository/verify-results.js';
import { isArchivedWalKey, readHistories, walInventory, type WalInventory } from '../repository/wal-inventory.js';
import { restorableWindow, type RestorableWindow } from '../repository/restorable-window.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';
import { parseLsn } from '../wal/names.js';
import { requiredSegments } from '../wal/segments.js';
import { rootHistory } from '../wal/timeline-history.js';

const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;
/** WAL deleted per request: S3's DeleteObjects limit; also how often progress is logged. */
const WAL_BATCH = 1000;

export interface ExpireReport {
  repository: string;
  dryRun: boolean;
  /** False: no PITR_RETENTION_* rule is set, and nothing was deleted. */
  ruleSet: boolean;
  kept: { id: string; stopTime: string; reasons: KeepReason[]; walThinned: boolean }[];
  expired: { id: string; stopTime: string; objects: number; bytes: number }[];
  wal: { files: number; bytes: number; first: string | null; last: string | null };
  /** When an interrupted run began whose job this one finishes (its intent was still there); null for none. */
  resumes: string | null;
  /** What killed runs left, removed (or found, with --dry-run). */
  leftovers: { backups: string[]; pins: string[]; verifications: string[]; objects: number; bytes: number };
  /** Every object deleted (or that would be), and their bytes. */
  objects: number;
  bytes: number;
  restorableWindowBefore: RestorableWindow | null;
  restorableWindowAfter: RestorableWindow | null;
}

export interface ExpireOptions {
  rules: RetentionRules;
  dryRun: boolean;
  log: Logger;
  now?: Date;
}

export async function expire(storage: Storage, options: ExpireOptions): Promise<ExpireReport> {
  const now = options.now ?? new Date();
  // Without a rule nothing is deleted, so a running backup is no reason to refuse.
  const deletes = !options.dryRun && anyRuleSet(options.rules);
  const lock: HeldLock | null = deletes ? await acquireBackupLock(storage, `expire-${now.toISOString()}`) : null;
  try {
    return await run(storage, options, now);
  } finally {
    await lock?.release();
  }
}

async function run(storage: Storage, { rules, dryRun, log }: ExpireOptions, now: Date): Promise<ExpireReport> {
  const identity = await readIdentity(storage);
  const segmentSize = identity?.walSegmentSize ?? DEFAULT_SEGMENT_SIZE;
  const [previous, backups, backupObjects, walObjects, pinObjects, verifyObjects] = await Promise.all([
    readExpireIntent(storage),
    listBackups(storage),
    storage.list(BACKUP_PREFIX),
    storage.list(WAL_PREFIX),
    storage.list(PINS_PREFIX),
    storage.list(VERIFIED_BACKUPS_PREFIX),
  ]);
  // From the same listing: what is deleted below is what the window after is computed without.
  // A damaged intent of a killed run is replaced by this run's, which covers what is left to do.
  if (previous.damaged) log.warn(previous.damaged);
  const previousIntent = previous.intent;
  const inventory = await walInventory(storage, segmentSize, { verify: true, listing: walObjects.objects });
  const histories = await readHistories(storage, inventory.histories);
  const pinned = new Set(pinObjects.objects.map((o) => idOf(o.key, PINS_PREFIX)));
  const decision = applyRetention(backups, rules, pinned, now);

  const byBackup = groupByBackup(backupObjects.objects);
  const existing = new Set(backups.map((b) => b.id));
  const leftoverDirs = [...byBackup.keys()].filter((id) => !existing.has(id)).sort();
  const stalePins = pinObjects.objects.filter((o) => !existing.has(idOf(o.key, PINS_PREFIX)));
  const staleVerifications = verifyObjects.objects.filter((o) => !existing.has(idOf(o.key, VERIFIED_BACKUPS_PREFIX)));
  const leftoverObjects = [...leftoverDirs.flatMap((id) => byBackup.get(id)!), ...stalePins, ...staleVerifications];

  const walByName = new Map(
    walObjects.objects.filter((o) => isArchivedWalKey(o.key)).map((o) => [o.key.slice(o.key.lastIndexOf('/') + 1), o]),
  );
  const walGoing = decision.ruleSet ? expiredWal(walByName.keys(), decision, segmentSize).map((n) => walByName.get(n)!) : [];
  const going = decision.ruleSet ? decision.expire : [];
  const goingIds = new Set(going.map((b) => b.id));

  const windowOf = (kept: BackupManifest[], wal: WalInventory) =>
    restorableWindow(
      storage,
      kept.filter((b) => walPresent(b, wal, segmentSize)),
      wal,
      histories,
      segmentSize,
    );
  const report: ExpireReport = {
    repository: storage.url,
    dryRun,
    ruleSet: decision.ruleSet,
    resumes: previousIntent?.startedAt ?? null,
    kept: decision.keep.map((k) => ({
      id: k.backup.id,
      stopTime: k.backup.stopTime,
      reasons: k.reasons,
      walThinned: decision.thinned.includes(k.backup),
    })),
    expired: going.map((b) => {
      const objects = byBackup.get(b.id) ?? [];
      return { id: b.id, stopTime: b.stopTime, objects: objects.length, bytes: sum(objects) };
    }),
    wal: {
      files: walGoing.length,
      bytes: sum(walGoing),
      first: walGoing[0] ? nameOf(walGoing[0]) : null,
      last: walGoing.at(-1) ? nameOf(walGoing.at(-1)!) : null,
    },
    leftovers: {
      backups: decision.ruleSet ? leftoverDirs : [],
      pins: decision.ruleSet ? stalePins.map((o) => idOf(o.key, PINS_PREFIX)) : [],
      verifications: decision.ruleSet ? staleVerifications.map((o) => idOf(o.key, VERIFIED_BACKUPS_PREFIX)) : [],
      objects: decision.ruleSet ? leftoverObjects.length : 0,
      bytes: decision.ruleSet ? sum(leftoverObjects) : 0,
    },
    objects: 0,
    bytes: 0,
    restorableWindowBefore: await windowOf(backups, inventory),
    restorableWindowAfter: await windowOf(
      backups.filter((b) => !goingIds.has(b.id)),
      without(
        inventory,
        walGoing.map((o) => nameOf(o)),
      ),
    ),
  };
  const goingObjects = going.reduce((n, b) => n + (byBackup.get(b.id)?.length ?? 0), 0);
  const goingVerifications = verifyObjects.objects.filter((o) => goingIds.has(idOf(o.key, VERIFIED_BACKUPS_PREFIX)));
  report.objects = report.leftovers.objects + goingObjects + goingVerifications.length + walGoing.length;
  report.bytes = report.leftovers.bytes + report.expired.reduce((n, e) => n + e.bytes, 0) + sum(goingVerifications) + report.wal.bytes;
  if (!decision.ruleSet || dryRun) return report;

  const work = report.objects > 0;
  if (work) {
    const intent = {
      format: 1 as const,
      startedAt: now.toISOString(),
      backups: going.map(({ id, timeline, startLsn, stopLsn }) => ({ id, timeline, startLsn, stopLsn })),
      wal: walRuns(
        walGoing.map((o) => nameOf(o)).filter((n) => /^[0-9A-F]{24}$/.test(n)),
        segmentSize,
      ),
    };
    await writeExpireIntent(storage, mergeIntents(previousIntent, intent));
  }

  // 2. Leftovers of a killed run: we hold the backup lock, so no backup is writing these.
  // The summary counts what was deleted, so a run cut short reports what it did.
  const done = { objects: 0, bytes: 0 };
  const remove = async (objects: ObjectInfo[]) => {
    if (objects.length === 0) return;
    await storage.deleteMany(objects.map((o) => o.key));
    done.objects += objects.length;
    done.bytes += sum(objects);
  };
  for (const id of leftoverDirs) {
    log.info({ backup: id }, 'removing the data of a backup without a manifest (left by an interrupted backup or expire)');
    await remove(byBackup.get(id)!);
  }
  await remove([...stalePins, ...staleVerifications]);

  // 3. Backups, oldest first: the manifest, then the data.
  const verificationOf = new Map(goingVerifications.map((o) => [idOf(o.key, VERIFIED_BACKUPS_PREFIX), o]));
  for (const [i, backup] of going.entries()) {
    if (await isPinned(storage, backup.id)) {
      // Pinned after this run read the pins: it stays, and so does the WAL it needs.
      log.warn({ backup: backup.id }, 'pinned while expire ran: kept; run expire again to let its older WAL go');
      return { ...report, ...done, expired: report.expired.slice(0, i), wal: { files: 0, bytes: 0, first: null, last: null } };
    }
    const objects = byBackup.get(backup.id) ?? [];
    // By its key, not the listing: whatever the listing showed, the manifest goes first.
    await storage.delete(manifestKey(backup.id));
    const manifest = objects.find((o) => o.key === manifestKey(backup.id));
    done.objects += 1;
    done.bytes += manifest?.size ?? 0;
    await remove(objects.filter((o) => o !== manifest));
    const verification = verificationOf.get(backup.id);
    if (verification) await remove([verification]);
    log.info({ backup: backup.id, stopTime: backup.stopTime, progress: `${i + 1}/${going.length}` }, 'expired backup');
  }

  // 4. WAL, oldest first, in batches.
  for (let i = 0; i < walGoing.length; i += WAL_BATCH) {
    const batch = walGoing.slice(i, i + WAL_BATCH);
    await remove(batch);
    log.info({ from: nameOf(batch[0]!), to: nameOf(batch.at(-1)!), progress: `${i + batch.length}/${walGoing.length}` }, 'expired WAL');
  }
  // Every stretch removed now ends at a backup that is still there: nothing left to explain.
  if (work || previousIntent) await clearExpireIntent(storage);
  return { ...report, ...done };
}

/** Every object under backups/, by backup id. */
function groupByBackup(objects: ObjectInfo[]): Map<string, ObjectInfo[]> {
  const out = new Map<string, ObjectInfo[]>();
  for (const o of objects) {
    const rest = o.key.slice(BACKUP_PREFIX.length);
    const slash = rest.indexOf('/');
    if (slash <= 0) continue;
    const id = rest.slice(0, slash);
    out.set(id, [...(out.get(id) ?? []), o]);
  }
  return out;
}

const idOf = (key: string, prefix: string) => key.slice(prefix.length).replace(/\.json$/, '');
const nameOf = (o: ObjectInfo) => o.key.slice(o.key.lastIndexOf('/') + 1);
const sum = (objects: ObjectInfo[]) => objects.reduce((n, o) => n + o.size, 0);

function walPresent(b: BackupManifest, wal: WalInventory, segmentSize: number): boolean {
  const needed = requiredSegments(rootHistory(b.timeline), parseLsn(b.startLsn)!, parseLsn(b.stopLsn)!, segmentSize);
  return needed.every((name) => wal.segments.has(name));
}

/** The inventory as it will be once `gone` are deleted (what the restorable window reads). */
function without(wal: WalInventory, gone: string[]): WalInventory {
  const drop = new Set(gone);
  return {
    ...wal,
    segments: new Set([...wal.segments].filter((n) => !drop.has(n))),
    archivedAt: new Map([...wal.archivedAt].filter(([n]) => !drop.has(n))),
  };
}
