// Timeline history files (<tli>.history), as PostgreSQL writes them at every promotion:
// one line per ancestor, "parentTLI<TAB>switchpoint<TAB>reason", oldest first. Read to follow
// timeline switches when planning a restore and checking the WAL it needs. Pure.
import { IntegrityError } from '../errors.js';
import { formatLsn, parseLsn } from './names.js';

/** WAL positions [begin, end) belong to `timeline`; the last span is open (end null). */
export interface TimelineSpan {
  timeline: number;
  begin: bigint;
  end: bigint | null;
}

/** The spans of `timeline` and all its ancestors, oldest first, from its history file's text. */
export function parseTimelineHistory(timeline: number, text: string): TimelineSpan[] {
  const spans: TimelineSpan[] = [];
  let begin = 0n;
  let lastParent = 0;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    const [parentText, switchText] = line.split(/\s+/);
    const parent = Number(parentText);
    const switchpoint = parseLsn(switchText ?? '');
    if (!Number.isInteger(parent) || parent <= lastParent || parent >= timeline || switchpoint === null || switchpoint < begin) {
      throw new IntegrityError(`history file of timeline ${timeline} has an invalid line "${line}"`);
    }
    spans.push({ timeline: parent, begin, end: switchpoint });
    begin = switchpoint;
    lastParent = parent;
  }
  spans.push({ timeline, begin, end: null });
  return spans;
}

/** A timeline with no history file (timeline 1, normally) covers everything. */
export function rootHistory(timeline: number): TimelineSpan[] {
  return [{ timeline, begin: 0n, end: null }];
}

/** The timeline that holds `lsn` in this history, or null when the history does not reach it. */
export function timelineOf(history: TimelineSpan[], lsn: bigint): number | null {
  for (const span of history) if (lsn >= span.begin && (span.end === null || lsn < span.end)) return span.timeline;
  return null;
}

/** True when a backup taken at `lsn` on `timeline` lies on this history (it can be replayed into it). */
export function isOnHistory(history: TimelineSpan[], timeline: number, lsn: bigint): boolean {
  return history.some((s) => s.timeline === timeline && lsn >= s.begin && (s.end === null || lsn <= s.end));
}

export function describeHistory(history: TimelineSpan[]): string {
  return history.map((s) => `${s.timeline}@${formatLsn(s.begin)}`).join(' -> ');
}
