// Whether archived WAL objects are whole. A name in a listing is not enough: some
// S3-compatible stores (s3rver among them) keep the part of a PutObject that arrived before
// a killed wal-push died, under the real key. Its header's payloadSize tells: an object
// shorter than header + payload is cut off (codec/object-format.ts). wal-fetch already
// refuses one; this is for everything that decides from what is stored without fetching it
// (the backup's WAL wait, the restore plan, list).
import { inspectStoredObject, MIN_OBJECT_BYTES, type ObjectMeta } from '../codec/object-format.js';
import { readObjectHead } from './object-head.js';
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
  return { problems, stoppedAt: stop };
}

/** With `until`: the name it accepted first, and only the problems of the objects before it. */
async function checkWal(
  storage: Storage,
  objects: Iterable<string | ObjectInfo>,
  options: { readHeads?: boolean; until?: (meta: ObjectMeta) => boolean },
): Promise<{ problems: Map<string, WalProblem>; stop: string | null }> {
  /** Each problem with its object's position, for cutting at the stop. */
  const found = new Map<string, { problem: WalProblem; at: number }>();
  const toRead: { name: string; key: string; at: number }[] = [];
  let at = 0;
  for (const o of objects) {
    const { name, key, size } =
      typeof o === 'string'
        ? { name: o, key: keyOf(o), size: undefined }
        : { name: o.key.slice(o.key.lastIndexOf('/') + 1), key: o.key, size: o.size };
    if (size !== undefined && size < MIN_OBJECT_BYTES) found.set(name, { problem: { state: 'incomplete', stored: size }, at });
    else if (options.readHeads !== false) toRead.push({ name, key, at });
    at++;
  }
  let next = 0;
  /** The first object `until` accepted: no read is started past it. (In an object: the readers set it.) */
  const accepted: { stop: { name: string; at: number } | null } = { stop: null };
  const reader = async (): Promise<void> => {
    while (next < toRead.length && (accepted.stop === null || toRead[next]!.at <= accepted.stop.at)) {
      const object = toRead[next++]!;
      try {
        const { problem, meta } = classify(
          await readObjectHead(storage, object.key),
          object.name,
          `archived ${object.name} in ${storage.url}`,
        );
        if (problem) found.set(object.name, { problem, at: object.at });
        else if (meta && options.until?.(meta) && (accepted.stop === null || object.at < accepted.stop.at)) accepted.stop = object;
      } catch (err) {
        next = toRead.length; // the store failed: the other readers stop too
        throw err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(HEAD_READS_AT_ONCE, toRead.length) }, reader));
  const { stop } = accepted;
  const problems = new Map([...found].filter(([, f]) => stop === null || f.at <= stop.at).map(([name, f]) => [name, f.problem]));
  return { problems, stop: stop?.name ?? null };
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
