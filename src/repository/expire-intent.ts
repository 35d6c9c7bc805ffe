// What a running `pitr expire` is removing, written before its first deletion and removed
// after its last: expire/intent.json. A run killed between leaves it behind, and with it the
// repository says why some WAL is absent. Retention removes whole stretches of WAL between
// one kept backup's stop and the next one's start, which verify recognises by their ends;
// half-way through, a stretch ends at a backup whose manifest is already gone, or at WAL not
// yet deleted. With the intent, verify still tells that from a lost segment, status says an
// expire was interrupted, and the next expire (which finishes the job) clears it.
import * as v from 'valibot';
import { isoTime, parseJsonDocument } from '../codec/json-document.js';
import { IntegrityError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import { segmentNumberOfName } from '../wal/segments.js';

export const EXPIRE_INTENT_KEY = 'expire/intent.json';

const intentSchema = v.object({
  format: v.literal(1),
  /** When the first of the runs it covers began (a killed run's intent is merged into the next one's). */
  startedAt: isoTime,
  /** The backups being removed, with the positions their manifests gave. */
  backups: v.array(v.object({ id: v.string(), timeline: v.number(), startLsn: v.string(), stopLsn: v.string() })),
  /** The WAL being removed, as runs of consecutive segments of one timeline. */
  wal: v.array(v.object({ from: v.string(), to: v.string() })),
});
export type ExpireIntent = v.InferOutput<typeof intentSchema>;

/**
 * The intent, if any. One that does not parse is not thrown but returned as `damaged` (its
 * message): expire replaces it with its own, verify and status name it, and none of them
 * stops for it.
 */
export async function readExpireIntent(storage: Storage): Promise<{ intent: ExpireIntent | null; damaged: string | null }> {
  const raw = await storage.get(EXPIRE_INTENT_KEY);
  if (raw === null) return { intent: null, damaged: null };
  try {
    const intent = parseJsonDocument(raw.toString('utf8'), intentSchema, {
      what: `${storage.url}${EXPIRE_INTENT_KEY}`,
      fix: 'run pitr expire, which replaces it',
    });
    return { intent, damaged: null };
  } catch (err) {
    if (err instanceof IntegrityError) return { intent: null, damaged: err.message };
    throw err;
  }
}

/** What status and verify say of an interrupted expire. */
export function describeInterruptedExpire(startedAt: string, backups: readonly string[]): string {
  const what = backups.length > 0 ? `backup(s) ${backups.join(', ')} and WAL` : 'WAL';
  return `an expire that began ${startedAt} was interrupted before it finished removing ${what}: run "pitr expire" to finish it`;
}

export async function writeExpireIntent(storage: Storage, intent: ExpireIntent): Promise<void> {
  await storage.put(EXPIRE_INTENT_KEY, Buffer.from(`${JSON.stringify(intent)}\n`));
}

export async function clearExpireIntent(storage: Storage): Promise<void> {
  await storage.delete(EXPIRE_INTENT_KEY);
}

/** This run's intent with a killed run's merged in: what either set out to remove. */
export function mergeIntents(previous: ExpireIntent | null, next: ExpireIntent): ExpireIntent {
  if (!previous) return next;
  const ids = new Set(next.backups.map((b) => b.id));
  return {
    format: 1,
    startedAt: previous.startedAt,
    backups: [...previous.backups.filter((b) => !ids.has(b.id)), ...next.backups],
    wal: [...previous.wal, ...next.wal],
  };
}

/** Sorted segment names as runs of consecutive segments of one timeline. */
export function walRuns(names: string[], segmentSize: number): { from: string; to: string }[] {
  const runs: { from: string; to: string; last: bigint }[] = [];
  for (const name of names) {
    const segno = segmentNumberOfName(name, segmentSize);
    const run = runs.at(-1);
    if (run && run.to.slice(0, 8) === name.slice(0, 8) && run.last + 1n === segno) {
      run.to = name;
      run.last = segno;
    } else runs.push({ from: name, to: name, last: segno });
  }
  return runs.map(({ from, to }) => ({ from, to }));
}
