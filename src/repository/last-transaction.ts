// The last transaction end (commit or abort) archived along a run of segments: where the
// restorable window ends. A recovery_target_time is reached only at a transaction end
// (wal/transaction-ends.ts); after the last one archived, recovery runs out of WAL first.
// Read from the segments' headers, newest first: on a server that commits at all, the newest
// segment or the one before it answers.
import { decodeHeader, MAX_HEADER_BYTES } from '../codec/object-format.js';
import type { Storage } from '../storage/storage.js';
import { parseLsn, parseWalFileName } from '../wal/names.js';
import { segmentOnHistory } from '../wal/segments.js';
import type { TimelineSpan } from '../wal/timeline-history.js';
import { walObjectKey } from './layout.js';

export type LastTransaction =
  /** The last commit/abort after `after`, in segment `wal`: a time up to `time` is reachable. */
  | { kind: 'found'; time: string; lsn: string; wal: string }
  /** None archived after `after` yet: no time target is reachable (--latest and --immediate are). */
  | { kind: 'none' }
  /** Segment `wal` was stored before pitr recorded transaction ends: its archive time is the only bound known. */
  | { kind: 'unrecorded'; wal: string };

/** Headers read at once while walking back. */
const BATCH = 8;

/**
 * The last transaction end in segments `first`..`last` (numbers, along `history`) whose LSN is
 * after `after` (a backup's consistency point: a stop before it is refused by PostgreSQL).
 */
export async function lastTransactionEnd(
  storage: Storage,
  run: { history: TimelineSpan[]; first: bigint; last: bigint; after: bigint },
  segmentSize: number,
): Promise<LastTransaction> {
  const { history, first, after } = run;
  for (let top = run.last; top >= first; top -= BigInt(BATCH)) {
    const names: string[] = [];
    for (let segno = top; segno >= first && segno > top - BigInt(BATCH); segno--) names.push(segmentOnHistory(history, segno, segmentSize));
    const metas = await Promise.all(names.map((name) => readEnds(storage, name)));
    for (const [i, name] of names.entries()) {
      const ends = metas[i];
      if (ends === undefined) return { kind: 'unrecorded', wal: name };
      if (ends.last && parseLsn(ends.last.lsn)! > after) return { kind: 'found', ...ends.last, wal: name };
      if (ends.last) return { kind: 'none' }; // every earlier end is earlier still
    }
  }
  return { kind: 'none' };
}

async function readEnds(storage: Storage, name: string) {
  const head = await storage.getHead(walObjectKey(parseWalFileName(name)!), MAX_HEADER_BYTES);
  if (!head) return undefined; // expired meanwhile: nothing known
  return decodeHeader(head.bytes, `archived ${name} in ${storage.url}`).meta.transactionEnds;
}
