// The last transaction end (commit or abort) archived along a run of segments: where the
// restorable window ends. A recovery_target_time is reached only at a transaction end
// (wal/transaction-ends.ts); after the last one archived, recovery runs out of WAL first.
// Read from the segments' headers, newest first: on a server that commits at all, the newest
// segment or the one before it answers.
import { decodeHeader } from '../codec/object-format.js';
import { readObjectHead } from './object-head.js';
import type { Storage } from '../storage/storage.js';
import { parseLsn, parseWalFileName } from '../wal/names.js';
import { segmentNumber, segmentNumberOfName, segmentOnHistory } from '../wal/segments.js';
import type { TransactionEnds } from '../wal/transaction-ends.js';
import { IntegrityError } from '../errors.js';
import type { BackupManifest } from './backups.js';
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
const BATCH = 8n;

/**
 * The last transaction end archived after `backup`'s consistency point (its stop LSN: a stop
 * before it PostgreSQL refuses), from `lastSegment` back along `history`.
 */
export async function lastTransactionEnd(
  storage: Storage,
  backup: Pick<BackupManifest, 'stopLsn'>,
  history: TimelineSpan[],
  lastSegment: string,
  segmentSize: number,
): Promise<LastTransaction> {
  const after = parseLsn(backup.stopLsn)!;
  const first = segmentNumber(after, segmentSize);
  for (let top = segmentNumberOfName(lastSegment, segmentSize); top >= first; top -= BATCH) {
    const names: string[] = [];
    for (let segno = top; segno >= first && segno > top - BATCH; segno--) names.push(segmentOnHistory(history, segno, segmentSize));
    const recorded = await Promise.all(names.map((name) => readEnds(storage, name)));
    for (const [i, name] of names.entries()) {
      const ends = recorded[i];
      if (ends === undefined) return { kind: 'unrecorded', wal: name };
      if (ends.last && parseLsn(ends.last.lsn)! > after) return { kind: 'found', ...ends.last, wal: name };
      if (ends.last) return { kind: 'none' }; // every earlier end is earlier still
    }
  }
  return { kind: 'none' };
}

/**
 * A segment's recorded ends; undefined when nothing can be known from it: gone since it was
 * listed, stored before pitr recorded them, or a header that does not decode (a damaged object
 * is verify's to name; the window then ends at its archive time, as for an old one).
 */
async function readEnds(storage: Storage, name: string): Promise<TransactionEnds | undefined> {
  const head = await readObjectHead(storage, walObjectKey(parseWalFileName(name)!));
  if (!head) return undefined;
  try {
    return decodeHeader(head.bytes, `archived ${name} in ${storage.url}`).meta.transactionEnds;
  } catch (err) {
    if (err instanceof IntegrityError) return undefined;
    throw err;
  }
}
