// What `pitr restore-test` found, kept in the repository so that `status` (and the agent, the
// metrics and the dashboard) on any host can say when a backup was last proven to restore:
//   restore-tests/last.json   the last run: when, passed or failed, RTO, RPO, each check
import * as v from 'valibot';
import { isoTime, parseJsonDocument } from '../codec/json-document.js';
import type { Storage } from '../storage/storage.js';

const LAST_KEY = 'restore-tests/last.json';

const checkSchema = v.object({
  name: v.string(),
  passed: v.boolean(),
  /** What it found, one line: why it failed, or what it checked. */
  detail: v.string(),
});
export type RestoreTestCheck = v.InferOutput<typeof checkSchema>;

const seconds = v.nullable(v.pipe(v.number(), v.minValue(0)));

const runSchema = v.object({
  format: v.literal(1),
  startedAt: isoTime,
  finishedAt: isoTime,
  result: v.picklist(['passed', 'failed']),
  host: v.string(),
  /** The backup restored, when the restore got that far. */
  backup: v.nullable(v.string()),
  /** From the start of the run to a restored server answering queries; null when it never did. */
  rtoSeconds: seconds,
  /** The commit time of the last transaction replayed (the server's "last completed transaction"). */
  recoveredTo: v.nullable(v.string()),
  /** How far `recoveredTo` is behind the last transaction archived: the RPO achieved. */
  rpoSeconds: seconds,
  /** Uncompressed bytes restored (the backup's tar). */
  bytes: v.pipe(v.number(), v.minValue(0)),
  checks: v.array(checkSchema),
  /** Why it failed, when it did, one line. */
  error: v.optional(v.string()),
});
export type RestoreTestRun = v.InferOutput<typeof runSchema>;

export async function recordRestoreTest(storage: Storage, run: Omit<RestoreTestRun, 'format'>): Promise<void> {
  await storage.put(LAST_KEY, Buffer.from(`${JSON.stringify({ format: 1, ...run }, null, 2)}\n`));
}

/** The last restore test, or null when none has run. */
export async function readLastRestoreTest(storage: Storage): Promise<RestoreTestRun | null> {
  const raw = await storage.get(LAST_KEY);
  if (raw === null) return null;
  return parseJsonDocument(raw.toString('utf8'), runSchema, {
    what: `${storage.url}${LAST_KEY}`,
    fix: 'run pitr restore-test again (it rewrites it)',
  });
}
