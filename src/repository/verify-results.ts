// What `pitr verify` found, kept in the repository so that `status`, the metrics and the
// dashboard on any host can say when the repository was last verified and how it went:
//   verify/last.json            the last run: when, its scope, passed or failed, how many problems
//   verify/backups/<id>.json    per backup: when it was last verified, and the result
import * as v from 'valibot';
import { isoTime, parseJsonDocument } from '../codec/json-document.js';
import type { Storage } from '../storage/storage.js';

const LAST_KEY = 'verify/last.json';
export const VERIFIED_BACKUPS_PREFIX = 'verify/backups/';
const backupKey = (id: string) => `${VERIFIED_BACKUPS_PREFIX}${id}.json`;

const result = v.picklist(['passed', 'failed']);

const runSchema = v.object({
  format: v.literal(1),
  startedAt: isoTime,
  finishedAt: isoTime,
  /** 'all', or 'backup <id>' for `pitr verify --backup ID`. */
  scope: v.string(),
  result,
  /** Bad objects plus gaps found. */
  problems: v.pipe(v.number(), v.integer(), v.minValue(0)),
  /** The first few problems, one line each, for status to quote. */
  examples: v.array(v.string()),
  host: v.string(),
});
export type VerifyRun = v.InferOutput<typeof runSchema>;

const backupSchema = v.object({
  format: v.literal(1),
  backup: v.string(),
  verifiedAt: isoTime,
  result,
  problems: v.pipe(v.number(), v.integer(), v.minValue(0)),
});
export type BackupVerification = v.InferOutput<typeof backupSchema>;

const json = (value: unknown) => Buffer.from(`${JSON.stringify(value, null, 2)}\n`);

export async function recordVerifyRun(storage: Storage, run: Omit<VerifyRun, 'format'>): Promise<void> {
  await storage.put(LAST_KEY, json({ format: 1, ...run }));
}

export async function recordBackupVerification(storage: Storage, entry: Omit<BackupVerification, 'format'>): Promise<void> {
  await storage.put(backupKey(entry.backup), json({ format: 1, ...entry }));
}

/** The last verify run, or null when none has run. */
export async function readLastVerifyRun(storage: Storage): Promise<VerifyRun | null> {
  const raw = await storage.get(LAST_KEY);
  if (raw === null) return null;
  return parseJsonDocument(raw.toString('utf8'), runSchema, {
    what: `${storage.url}${LAST_KEY}`,
    fix: 'run pitr verify again (it rewrites it)',
  });
}

/** Each backup's last verification, by backup id. */
export async function readBackupVerifications(storage: Storage): Promise<Map<string, BackupVerification>> {
  const { objects } = await storage.list(VERIFIED_BACKUPS_PREFIX);
  const entries = await Promise.all(objects.map((o) => readBackupVerificationAt(storage, o.key)));
  return new Map(entries.filter((e): e is BackupVerification => e !== null).map((e) => [e.backup, e]));
}

/** The verification under `key` (verify/backups/<id>.json), or null when there is none. */
export async function readBackupVerificationAt(storage: Storage, key: string): Promise<BackupVerification | null> {
  const raw = await storage.get(key);
  if (raw === null) return null;
  return parseJsonDocument(raw.toString('utf8'), backupSchema, {
    what: `${storage.url}${key}`,
    fix: 'run pitr verify --backup for that backup again (it rewrites it)',
  });
}

/** Forgets an expired backup's verification. */
export async function forgetBackupVerification(storage: Storage, id: string): Promise<void> {
  await storage.delete(backupKey(id));
}
