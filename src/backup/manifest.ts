// The backup manifest: written last, so a backup without one never happened as far as
// list and restore are concerned.
import { AlreadyExistsError, IntegrityError } from '../errors.js';
import type { Storage } from '../storage/storage.js';

export const BACKUP_PREFIX = 'backups/';

export interface BackupFile {
  /** Object key in the repository. */
  key: string;
  /** What it holds once decompressed. */
  name: 'base.tar';
  /**
   * lz4: one standard LZ4 frame stream, written by pg_basebackup --compress=client-lz4;
   * none: the plain tar. Either way the tar ends with PostgreSQL's backup_manifest, which
   * holds a checksum of every file (restore verifies the files against it).
   */
  compression: 'lz4' | 'none';
  /** Bytes of the uncompressed tar, as pg_basebackup counted them (to the KiB). */
  size: number;
  /** Bytes stored, and their SHA-256, checked on every restore. */
  storedSize: number;
  storedSha256: string;
}

export interface BackupManifest {
  format: 1;
  id: string;
  label: string;
  pitrVersion: string;
  systemIdentifier: string;
  pgVersion: number;
  timeline: number;
  startLsn: string;
  stopLsn: string;
  startWal: string;
  stopWal: string;
  startTime: string;
  stopTime: string;
  durationMs: number;
  /**
   * The oldest transaction still running just after the backup ended (xid8 text): any
   * transaction from this one on ended after the backup did, so a --xid restore to it can
   * start from this backup. Absent when it could not be read.
   */
  xminAfterStop?: string;
  files: BackupFile[];
}

export const backupDir = (id: string) => `${BACKUP_PREFIX}${id}/`;
export const manifestKey = (id: string) => `${backupDir(id)}manifest.json`;

export async function writeManifest(storage: Storage, manifest: BackupManifest): Promise<void> {
  try {
    await storage.put(manifestKey(manifest.id), Buffer.from(`${JSON.stringify(manifest, null, 2)}\n`), { noOverwrite: true });
  } catch (err) {
    if (err instanceof AlreadyExistsError) throw new IntegrityError(`backup ${manifest.id} already has a manifest: refusing to replace it`);
    throw err;
  }
}

/** The newest complete backup, reading manifests newest first until one exists. */
export async function newestBackup(storage: Storage): Promise<BackupManifest | null> {
  const { prefixes } = await storage.list(BACKUP_PREFIX, { delimiter: '/' });
  for (const prefix of prefixes.sort().reverse()) {
    const manifest = await readManifest(storage, prefix);
    if (manifest) return manifest;
  }
  return null;
}

async function readManifest(storage: Storage, prefix: string): Promise<BackupManifest | null> {
  const raw = await storage.get(`${prefix}manifest.json`);
  if (!raw) return null; // incomplete: interrupted, or still running
  try {
    return JSON.parse(raw.toString('utf8')) as BackupManifest;
  } catch {
    throw new IntegrityError(
      `${storage.url}${prefix}manifest.json is damaged (not valid JSON): restore it from another copy of the repository, or take a new backup`,
    );
  }
}

/** Complete backups (those with a manifest), oldest first. */
export async function listBackups(storage: Storage): Promise<BackupManifest[]> {
  const { prefixes } = await storage.list(BACKUP_PREFIX, { delimiter: '/' });
  const manifests = await Promise.all(prefixes.map((prefix) => readManifest(storage, prefix)));
  return manifests.filter((m): m is BackupManifest => m !== null).sort((a, b) => (a.id < b.id ? -1 : 1));
}
