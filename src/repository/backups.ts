// The backup manifest: written last, so a backup without one never happened as far as
// list and restore are concerned.
import { AlreadyExistsError, IntegrityError } from '../errors.js';
import * as v from 'valibot';
import { byteCount, checkDocument, isoTime, parseJsonDocument, sha256Hex } from '../codec/json-document.js';
import type { Storage } from '../storage/storage.js';
import { parseLsn } from '../wal/names.js';

export const BACKUP_PREFIX = 'backups/';

/**
 * One stored file of a backup. `name` is what it holds once decompressed; lz4 means one
 * standard LZ4 frame stream, written by pg_basebackup --compress=client-lz4, none the plain
 * tar. Either way the tar ends with PostgreSQL's backup_manifest, which holds a checksum of
 * every file (restore verifies the files against it). `size` counts the uncompressed tar, as
 * pg_basebackup counted it (to the KiB); `storedSize` and `storedSha256` the bytes stored,
 * checked on every restore. Encrypted (age), the key ends in .age and `age -d -i key.txt | lz4 -d`
 * gives back the tar.
 */
const backupFileSchema = v.object({
  key: v.string(),
  name: v.literal('base.tar'),
  compression: v.picklist(['lz4', 'none']),
  /** 'age': the stored bytes are an age file of the (compressed) tar; absent: in the clear. */
  encryption: v.optional(v.literal('age')),
  size: byteCount,
  storedSize: byteCount,
  storedSha256: sha256Hex,
});

const lsn = v.pipe(v.string(), v.regex(/^[0-9A-F]{1,8}\/[0-9A-F]{1,8}$/i, 'not an LSN'));

const backupManifestSchema = v.object({
  format: v.literal(1),
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9._-]+$/, 'not a backup id')),
  label: v.string(),
  pitrVersion: v.string(),
  systemIdentifier: v.pipe(v.string(), v.regex(/^\d+$/, 'not a system identifier')),
  pgVersion: v.pipe(v.number(), v.integer()),
  timeline: v.pipe(v.number(), v.integer(), v.minValue(1)),
  startLsn: lsn,
  stopLsn: lsn,
  startWal: v.string(),
  stopWal: v.string(),
  startTime: isoTime,
  stopTime: isoTime,
  /** Written by pitr from a monotonic clock; older pitr used the wall clock, which can step back. */
  durationMs: v.pipe(v.number(), v.integer()),
  /**
   * The oldest transaction still running just after the backup ended (xid8 text): any
   * transaction from this one on ended after the backup did, so a --xid restore to it can
   * start from this backup. Absent when it could not be read.
   */
  xminAfterStop: v.optional(v.string()),
  /** Today exactly one: base.tar. */
  files: v.pipe(v.tupleWithRest([backupFileSchema], backupFileSchema)),
});

export type BackupFile = v.InferOutput<typeof backupFileSchema>;
export type BackupManifest = v.InferOutput<typeof backupManifestSchema>;

export const backupDir = (id: string) => `${BACKUP_PREFIX}${id}/`;
export const manifestKey = (id: string) => `${backupDir(id)}manifest.json`;

export async function writeManifest(storage: Storage, manifest: BackupManifest): Promise<void> {
  // Checked as every reader will check it: a manifest pitr would refuse to read is never stored.
  checkDocument(manifest, backupManifestSchema, {
    what: `the manifest of backup ${manifest.id}`,
    fix: 'this is a bug in pitr: report it; the backup is not visible',
  });
  try {
    await storage.put(manifestKey(manifest.id), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), { noOverwrite: true });
  } catch (err) {
    if (err instanceof AlreadyExistsError) throw new IntegrityError(`backup ${manifest.id} already has a manifest: refusing to replace it`);
    throw err;
  }
}

/** The manifest under `key` (backups/<id>/manifest.json), or null when there is none. */
export async function readManifestAt(storage: Storage, key: string): Promise<BackupManifest | null> {
  const raw = await storage.get(key);
  if (!raw) return null; // incomplete: interrupted, or still running
  return parseJsonDocument(raw.toString('utf8'), backupManifestSchema, {
    what: `${storage.url}${key}`,
    fix: 'restore it from another copy of the repository, or take a new backup',
  });
}

/**
 * Oldest first by when a backup ended, never by its id: ids carry the start time of the host's
 * clock, which a clock reset or a backup from another host can put out of order (a tool that
 * ordered by name expired the newest backups after a timeline reset). Equal stop times go by
 * stop LSN, then id, so the order is total.
 */
export function byStopTime(a: BackupManifest, b: BackupManifest): number {
  const t = Date.parse(a.stopTime) - Date.parse(b.stopTime);
  if (t !== 0) return t;
  const la = parseLsn(a.stopLsn)!;
  const lb = parseLsn(b.stopLsn)!;
  if (la !== lb) return la < lb ? -1 : 1;
  return a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

/** Complete backups (those with a manifest), oldest first by stop time. */
export async function listBackups(storage: Storage): Promise<BackupManifest[]> {
  const { prefixes } = await storage.list(BACKUP_PREFIX, { delimiter: '/' });
  const manifests = await Promise.all(prefixes.map((prefix) => readManifestAt(storage, `${prefix}manifest.json`)));
  return manifests.filter((m): m is BackupManifest => m !== null).sort(byStopTime);
}
