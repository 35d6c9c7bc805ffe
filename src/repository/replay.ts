// Where replay from a backup goes as recovery_target_timeline 'latest' makes it go, and how
// far it gets on what the repository holds: shared by restore's plan, list's and expire's
// restorable window, verify's chain and status's gap check.
import type { BackupManifest } from './backups.js';
import type { WalView } from './wal-inventory.js';
import { parseLsn } from '../wal/names.js';
import { segmentNumber, segmentOnHistory } from '../wal/segments.js';
import { isOnHistory, rootHistory, type TimelineSpan } from '../wal/timeline-history.js';

/** The newest timeline of the unbroken run of history files above `timeline` (PostgreSQL's findNewestTimeLine). */
export function newestTimeline(histories: ReadonlyMap<number, TimelineSpan[]>, timeline: number): number {
  let newest = timeline;
  while (histories.has(newest + 1)) newest++;
  return newest;
}

/**
 * The history replay from `backup` follows as recovery_target_timeline 'latest' would: the
 * newest timeline of the run of history files above the backup's, or the backup's own when it
 * does not lie on that one (verify walks the same chain that replayReach measures).
 */
export function replayHistory(histories: ReadonlyMap<number, TimelineSpan[]>, backup: BackupManifest): TimelineSpan[] {
  const newest = newestTimeline(histories, backup.timeline);
  const history = histories.get(newest) ?? rootHistory(newest);
  if (isOnHistory(history, backup.timeline, parseLsn(backup.stopLsn)!)) return history;
  return histories.get(backup.timeline) ?? rootHistory(backup.timeline);
}

/**
 * How far replay from `backup` reaches along the newest timeline it can follow (as
 * recovery_target_timeline 'latest'): the last segment of the unbroken run from its start;
 * null when not even its first segment is archived. `runs`: walks already made, for a caller
 * that asks for many backups (the restorable window): without it each backup walks its whole
 * run again, backups x segments (10 s for 200 backups over 100,000 segments).
 */
export function replayReach(
  input: { wal: WalView; histories: ReadonlyMap<number, TimelineSpan[]>; segmentSize: number },
  backup: BackupManifest,
  runs: KnownRuns = new KnownRuns(),
): string | null {
  const history = replayHistory(input.histories, backup);
  const first = segmentNumber(parseLsn(backup.startLsn)!, input.segmentSize);
  const last = runs.end(input.wal, history, first, input.segmentSize);
  return last < first ? null : segmentOnHistory(history, last, input.segmentSize);
}

/** The last segment number of the unbroken run of archived segments from `first` along `history` (first - 1: none). */
export function runEnd(wal: WalView, history: TimelineSpan[], first: bigint, segmentSize: number): bigint {
  return new KnownRuns().end(wal, history, first, segmentSize);
}

/**
 * Runs of archived segments already walked, per history: a walk that meets the start of a known
 * run ends where that run ends, and a start inside a known run is answered at once.
 */
export class KnownRuns {
  private readonly byHistory = new Map<string, { ends: Map<bigint, bigint>; runs: { from: bigint; to: bigint }[] }>();

  end(wal: WalView, history: TimelineSpan[], first: bigint, segmentSize: number): bigint {
    const key = history.map((s) => `${s.timeline}:${s.end ?? ''}`).join(',');
    let known = this.byHistory.get(key);
    if (!known) this.byHistory.set(key, (known = { ends: new Map(), runs: [] }));
    const inside = known.runs.find((r) => r.from <= first && first <= r.to);
    if (inside) return inside.to;
    let last = first - 1n;
    for (;;) {
      const joined = known.ends.get(last + 1n);
      if (joined !== undefined) {
        last = joined;
        break;
      }
      if (!wal.segments.has(segmentOnHistory(history, last + 1n, segmentSize))) break;
      last++;
    }
    if (last >= first) {
      known.runs.push({ from: first, to: last });
      known.ends.set(first, last);
    }
    return last;
  }
}
