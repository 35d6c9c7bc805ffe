// The retention policy (docs/cli.md, Retention): which backups `pitr expire` keeps and which
// WAL it keeps with them. Pure: the caller loads the manifests and the pins and says what time
// it is. Time is a backup's stop time, never its id: ids sort by the clock of the host that
// took them, and a tool that ordered by name deleted the newest backups after a reset.
import type { RetentionSettings } from '../config/config.js';
import { byStopTime, type BackupManifest } from './backups.js';
import { parseLsn, parseWalFileName } from '../wal/names.js';
import { segmentNumber, segmentNumberOfName } from '../wal/segments.js';

/** What expire keeps: the settings as configured (config/config.ts). */
export type RetentionRules = RetentionSettings;

export type KeepReason = 'no-rule' | 'newest' | 'full' | 'window' | 'daily' | 'weekly' | 'monthly' | 'pinned';

export interface RetentionDecision {
  /** False when no rule is set: nothing is expired. */
  ruleSet: boolean;
  /** Kept backups, oldest first (by stop time), each with every rule that keeps it. */
  keep: { backup: BackupManifest; reasons: KeepReason[] }[];
  /** Backups that go, oldest first. */
  expire: BackupManifest[];
  /**
   * WAL is kept without a break from this backup's start to the newest archived segment: the
   * oldest backup kept by PITR_RETENTION_FULL or the window, else the newest backup.
   */
  continuousFrom: BackupManifest | null;
  /** Older kept backups (calendar rules, pins) that keep only their own WAL, start to stop. */
  thinned: BackupManifest[];
}

export function anyRuleSet(rules: RetentionRules): boolean {
  return [rules.full, rules.windowMs, rules.daily, rules.weekly, rules.monthly].some((r) => r !== undefined);
}

export function applyRetention(
  backups: BackupManifest[],
  rules: RetentionRules,
  pinned: ReadonlySet<string>,
  now: Date,
): RetentionDecision {
  const sorted = [...backups].sort(byStopTime);
  const ruleSet = anyRuleSet(rules);
  const reasons = new Map<string, KeepReason[]>(sorted.map((b) => [b.id, []]));
  const keepBy = (b: BackupManifest | undefined, why: KeepReason) => {
    if (b) reasons.get(b.id)!.push(why);
  };
  const newestFirst = [...sorted].reverse();
  keepBy(newestFirst[0], 'newest');
  if (!ruleSet) for (const b of sorted) keepBy(b, 'no-rule');
  for (const b of sorted) if (pinned.has(b.id)) keepBy(b, 'pinned');
  if (rules.full !== undefined) for (const b of newestFirst.slice(0, rules.full)) keepBy(b, 'full');
  if (rules.windowMs !== undefined) {
    const start = now.getTime() - rules.windowMs;
    // Every backup inside the window, and the newest one before its start: every moment of
    // the window is after its stop.
    for (const b of sorted) if (Date.parse(b.stopTime) >= start) keepBy(b, 'window');
    keepBy(
      newestFirst.find((b) => Date.parse(b.stopTime) < start),
      'window',
    );
  }
  const calendar = [
    ['daily', rules.daily, dayKey],
    ['weekly', rules.weekly, isoWeekKey],
    ['monthly', rules.monthly, monthKey],
  ] as const;
  for (const [why, count, key] of calendar) {
    if (count === undefined) continue;
    const seen = new Set<string>();
    for (const b of newestFirst) {
      const k = key(localDate(new Date(b.stopTime), rules.timeZone));
      if (seen.has(k)) continue; // a newer backup of the same period is kept already
      if (seen.size >= count) break;
      seen.add(k);
      keepBy(b, why);
    }
  }

  const keep = sorted.filter((b) => reasons.get(b.id)!.length > 0).map((backup) => ({ backup, reasons: reasons.get(backup.id)! }));
  const expire = sorted.filter((b) => reasons.get(b.id)!.length === 0);
  const continuous = keep.filter((k) => k.reasons.some((r) => r === 'full' || r === 'window' || r === 'newest'));
  const continuousFrom =
    continuous.length === 0 ? null : continuous.reduce((a, b) => (startSegment(b.backup) < startSegment(a.backup) ? b : a)).backup;
  const thinned = continuousFrom ? keep.map((k) => k.backup).filter((b) => startSegment(b) < startSegment(continuousFrom)) : [];
  return { ruleSet, keep, expire, continuousFrom, thinned };
}

const startSegment = (b: BackupManifest) => parseLsn(b.startLsn)!;

/**
 * Which archived WAL files (names, as in the repository) the decision lets go: every segment,
 * .partial and .backup file before the continuous stretch that no thinned backup needs
 * between its start and its stop. History files are always kept (they are tiny, and every
 * later timeline's history is read through them). Conservative across timelines: a position
 * a kept backup needs keeps that position's file on every timeline.
 */
export function expiredWal(names: Iterable<string>, decision: RetentionDecision, segmentSize: number): string[] {
  if (!decision.ruleSet || !decision.continuousFrom) return [];
  const seg = (lsn: string) => segmentNumber(parseLsn(lsn)!, segmentSize);
  const from = seg(decision.continuousFrom.startLsn);
  const ranges = decision.thinned.map((b) => [seg(b.startLsn), seg(b.stopLsn)] as const);
  const out: { name: string; segno: bigint }[] = [];
  for (const name of names) {
    const file = parseWalFileName(name);
    if (!file || file.kind === 'history') continue;
    const segno = segmentNumberOfName(name.slice(0, 24), segmentSize);
    if (segno >= from) continue;
    if (ranges.some(([a, b]) => segno >= a && segno <= b)) continue;
    out.push({ name, segno });
  }
  // Oldest first: a run killed half-way leaves a shorter stretch of unneeded WAL, never a hole.
  return out.sort((a, b) => (a.segno < b.segno ? -1 : a.segno > b.segno ? 1 : a.name < b.name ? -1 : 1)).map((o) => o.name);
}

interface LocalDate {
  year: number;
  month: number;
  day: number;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** The calendar date of `at` in `timeZone`. */
export function localDate(at: Date, timeZone: string): LocalDate {
  let f = formats.get(timeZone);
  if (!f) formats.set(timeZone, (f = new Intl.DateTimeFormat('en-US', { timeZone, year: 'numeric', month: 'numeric', day: 'numeric' })));
  const part = (type: string) => Number(f.formatToParts(at).find((p) => p.type === type)!.value);
  return { year: part('year'), month: part('month'), day: part('day') };
}

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const dayKey = (d: LocalDate) => `${d.year}-${pad(d.month)}-${pad(d.day)}`;
const monthKey = (d: LocalDate) => `${d.year}-${pad(d.month)}`;

/** ISO 8601 week: weeks start on Monday, week 1 holds the year's first Thursday. */
export function isoWeekKey(d: LocalDate): string {
  const date = new Date(Date.UTC(d.year, d.month - 1, d.day));
  const weekday = date.getUTCDay() || 7; // Monday 1 .. Sunday 7
  date.setUTCDate(date.getUTCDate() + 4 - weekday); // the Thursday of this week
  const year = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(year, 0, 1)) / 86_400_000 + 1) / 7);
  return `${year}-W${pad(week)}`;
}
