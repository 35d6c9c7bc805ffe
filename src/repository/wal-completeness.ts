// Whether archived WAL objects are whole. A name in a listing is not enough: some
// S3-compatible stores (s3rver among them) keep the part of a PutObject that arrived before
// a killed wal-push died, under the real key. Its header's payloadSize tells: an object
// shorter than header + payload is cut off (codec/object-format.ts). wal-fetch already
// refuses one; this is for everything that decides from what is stored without fetching it
// (the backup's WAL wait, the restore plan, list).
import { inspectStoredObject, MAX_HEADER_BYTES, MIN_OBJECT_BYTES, type ObjectMeta } from '../codec/object-format.js';
import { IntegrityError } from '../errors.js';
import type { ObjectHead, ObjectInfo, Storage } from '../storage/storage.js';
import { parseWalFileName } from '../wal/names.js';
import { walObjectKey } from './layout.js';

/**
 * Why an archived WAL file does not count as archived. 'missing': gone (removed since it was
 * listed); 'incomplete': cut off, `stored` of `expected` bytes (unknown when the object ends
 * inside its header); 'damaged': not what pitr wrote under that name (`message` says how).
 */
export type WalProblem =
  { state: 'missing' } | { state: 'incomplete'; stored: number; expected?: number } | { state: 'damaged'; message: string };

/** Ranged reads in flight at once: enough to hide a store's latency, few enough not to flood it. */
export const HEAD_READS_AT_ONCE = 16;

/**
 * The WAL objects among `objects` that are not whole, by file name (a name not in the result
 * is whole). `objects` are file names, or listed objects, whose size alone shows one shorter
 * than any whole object to be cut off, without a read. Every other object's header is read
 * (its first MAX_HEADER_BYTES), HEAD_READS_AT_ONCE at a time, and dropped once classified:
 * memory holds the reads in flight and the names of the problems, nothing more. With
 * `readHeads: false`, only the size rule applies (for stores whose writes are atomic).
 */
export async function findUnusableWal(
  storage: Storage,
  objects: Iterable<string | ObjectInfo>,
  options: { readHeads?: boolean } = {},
): Promise<Map<string, WalProblem>> {
  return (await checkWal(storage, objects, options)).problems;
}

/**
 * As findUnusableWal over `names` in order, but reading stops at the first whole object whose
 * header `until` accepts (restore --to: the segment holding a transaction end after the
 * target, where recovery stops). Returns the problems among the names up to it, and its name
 * (null when none was accepted: every name was checked).
 */
export async function findUnusableWalUntil(
  storage: Storage,
  names: string[],
  until: (meta: ObjectMeta) => boolean,
): Promise<{ problems: Map<string, WalProblem>; stoppedAt: string | null }> {
  const { problems, stop } = await checkWal(storage, names, { until });
  if (stop === null) return { problems, stoppedAt: null };
  const kept = new Map([...problems].filter(([name]) => names.indexOf(name) <= stop));
  return { problems: kept, stoppedAt: names[stop]! };
}

async function checkWal(
  storage: Storage,
  objects: Iterable<string | ObjectInfo>,
  options: { readHeads?: boolean; until?: (meta: ObjectMeta) => boolean },
): Promise<{ problems: Map<string, WalProblem>; stop: number | null }> {
  const problems = new Map<string, WalProblem>();
  const toRead: { name: string; key: string }[] = [];
  for (const o of objects) {
    const { name, key, size } =
      typeof o === 'string'
        ? { name: o, key: keyOf(o), size: undefined }
        : { name: o.key.slice(o.key.lastIndexOf('/') + 1), key: o.key, size: o.size };
    if (size !== undefined && size < MIN_OBJECT_BYTES) problems.set(name, { state: 'incomplete', stored: size });
    else if (options.readHeads !== false) toRead.push({ name, key });
  }
  let next = 0;
  /** The first index `until` accepted: no read is started past it. */
  let stop: number | null = null;
  const reader = async (): Promise<void> => {
    while (next < toRead.length && (stop === null || next <= stop)) {
      const i = next++;
      const { name, key } = toRead[i]!;
      try {
        const { problem, meta } = classify(await storage.getHead(key, MAX_HEADER_BYTES), name, `archived ${name} in ${storage.url}`);
        if (problem) problems.set(name, problem);
        else if (meta && options.until?.(meta) && (stop === null || i < stop)) stop = i;
      } catch (err) {
        next = toRead.length; // the store failed: the other readers stop too
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_READS_AT_ONCE, toRead.length) }, reader));
  return { problems, stop };
}

/** "cut off: 42304 of 84601 bytes stored", for messages. */
export function describeProblem(problem: WalProblem): string {
  switch (problem.state) {
    case 'missing':
      return 'removed since it was listed';
    case 'incomplete':
      return `cut off: ${problem.stored} ${problem.expected === undefined ? 'bytes stored, less than its header' : `of ${problem.expected} bytes stored`}`;
    case 'damaged':
      return problem.message;
  }
}

function keyOf(name: string): string {
  const file = parseWalFileName(name);
  if (!file) throw new Error(`${name} is not a WAL file name`);
  return walObjectKey(file);
}

function classify(head: ObjectHead | null, name: string, what: string): { problem: WalProblem | null; meta?: ObjectMeta } {
  if (head === null) return { problem: { state: 'missing' } };
  try {
    const stored = inspectStoredObject(head, what);
    if (stored.state === 'incomplete') return { problem: { state: 'incomplete', stored: head.size, expected: stored.expected } };
    if (stored.meta.name !== name)
      return { problem: { state: 'damaged', message: `${what} holds ${stored.meta.name}: the object was copied or renamed by hand` } };
    return { problem: null, meta: stored.meta };
  } catch (err) {
    if (err instanceof IntegrityError) return { problem: { state: 'damaged', message: err.message } };
    throw err;
  }
}
