// The retention policy over invented backup histories: each rule alone, together, at calendar
// boundaries, across a DST change, and the WAL each decision lets go.
import { describe, expect, it } from 'vitest';
import { applyRetention, expiredWal, isoWeekKey, localDate, type RetentionRules } from '../../src/repository/retention.js';
import { SEG, segmentName, testBackup } from '../support/backups.js';

const UTC: RetentionRules = { timeZone: 'UTC' };
const none = new Set<string>();

/** Backups b0, b1, … at the given stop times, each in its own pair of segments (2i+1, 2i+2). */
function history(stopTimes: string[]) {
  return stopTimes.map((t, i) => testBackup(`b${i}`, 2 * i + 1, 2 * i + 2, t));
}
const kept = (d: ReturnType<typeof applyRetention>) => d.keep.map((k) => k.backup.id);
const expired = (d: ReturnType<typeof applyRetention>) => d.expire.map((b) => b.id);

describe('applyRetention', () => {
  it('with no rule keeps everything', () => {
    const d = applyRetention(history(['2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z']), UTC, none, new Date('2026-02-01T00:00:00Z'));
    expect(d.ruleSet).toBe(false);
    expect(expired(d)).toEqual([]);
    expect(expiredWal([segmentName(1, 0)], d, SEG)).toEqual([]);
  });

  it('an empty repository: nothing to keep, nothing to expire', () => {
    const d = applyRetention([], { ...UTC, full: 1 }, none, new Date());
    expect(d).toMatchObject({ keep: [], expire: [], continuousFrom: null, thinned: [] });
    expect(expiredWal([segmentName(1, 1)], d, SEG)).toEqual([]);
  });

  it('PITR_RETENTION_FULL keeps the newest N by stop time, whatever the ids say', () => {
    // After a clock reset the newest backups have the smallest ids.
    const backups = [
      testBackup('20260105T000000', 1, 2, '2026-01-05T00:00:00Z'),
      testBackup('20260106T000000', 3, 4, '2026-01-06T00:00:00Z'),
      testBackup('20250101T000000', 5, 6, '2026-01-07T00:00:00Z'),
      testBackup('20250102T000000', 7, 8, '2026-01-08T00:00:00Z'),
    ];
    const d = applyRetention(backups, { ...UTC, full: 2 }, none, new Date('2026-01-09T00:00:00Z'));
    expect(kept(d)).toEqual(['20250101T000000', '20250102T000000']);
    expect(expired(d)).toEqual(['20260105T000000', '20260106T000000']);
    expect(d.continuousFrom?.id).toBe('20250101T000000');
  });

  it('never expires the newest backup, even with FULL=0', () => {
    const d = applyRetention(history(['2026-01-01T00:00:00Z', '2026-01-02T00:00:00Z']), { ...UTC, full: 0 }, none, new Date('2026-03-01Z'));
    expect(kept(d)).toEqual(['b1']);
  });

  it('the window keeps the backups inside it and the newest one before its start', () => {
    const backups = history(['2026-01-01T00:00:00Z', '2026-01-05T00:00:00Z', '2026-01-09T00:00:00Z', '2026-01-12T00:00:00Z']);
    const d = applyRetention(backups, { ...UTC, windowMs: 7 * 86_400_000 }, none, new Date('2026-01-14T00:00:00Z'));
    // window starts 2026-01-07: b1 (01-05) is the newest before it.
    expect(kept(d)).toEqual(['b1', 'b2', 'b3']);
    expect(d.continuousFrom?.id).toBe('b1');
  });

  it('daily: the newest backup of each of the last N days that have one, several a day', () => {
    const backups = history([
      '2026-01-01T08:00:00Z',
      '2026-01-01T20:00:00Z',
      '2026-01-03T01:00:00Z',
      '2026-01-03T02:00:00Z',
      '2026-01-03T23:59:59Z',
      '2026-01-04T00:00:00Z',
    ]);
    const d = applyRetention(backups, { ...UTC, daily: 3 }, none, new Date('2026-01-10T00:00:00Z'));
    expect(kept(d)).toEqual(['b1', 'b4', 'b5']);
  });

  it('weekly follows ISO weeks: Sunday and Monday are different weeks, and 2026-01-01 is in 2026-W01', () => {
    expect(isoWeekKey({ year: 2026, month: 1, day: 1 })).toBe('2026-W01');
    expect(isoWeekKey({ year: 2027, month: 1, day: 1 })).toBe('2026-W53');
    expect(isoWeekKey({ year: 2024, month: 12, day: 30 })).toBe('2025-W01');
    // 2026-01-04 is a Sunday, 2026-01-05 a Monday.
    const backups = history(['2026-01-03T10:00:00Z', '2026-01-04T10:00:00Z', '2026-01-05T10:00:00Z', '2026-01-06T10:00:00Z']);
    const d = applyRetention(backups, { ...UTC, weekly: 2 }, none, new Date('2026-01-07T00:00:00Z'));
    expect(kept(d)).toEqual(['b1', 'b3']);
  });

  it('monthly: month boundaries in PITR_TIMEZONE, not UTC', () => {
    // 2026-01-31T23:30Z is already February in Berlin (UTC+1).
    const backups = history(['2026-01-15T12:00:00Z', '2026-01-31T22:30:00Z', '2026-01-31T23:30:00Z', '2026-02-10T12:00:00Z']);
    const utc = applyRetention(backups, { ...UTC, monthly: 2 }, none, new Date('2026-03-01Z'));
    expect(kept(utc)).toEqual(['b2', 'b3']);
    const berlin = applyRetention(backups, { timeZone: 'Europe/Berlin', monthly: 2 }, none, new Date('2026-03-01Z'));
    expect(kept(berlin)).toEqual(['b1', 'b3']);
  });

  it('days across the DST change in Europe/Berlin (2026-03-29, 02:00 → 03:00)', () => {
    // 2026-03-28T23:30Z is 00:30 on the 29th (CET, +1); 2026-03-29T22:30Z is 00:30 on the 30th (CEST, +2).
    expect(localDate(new Date('2026-03-28T23:30:00Z'), 'Europe/Berlin')).toEqual({ year: 2026, month: 3, day: 29 });
    expect(localDate(new Date('2026-03-29T21:30:00Z'), 'Europe/Berlin')).toEqual({ year: 2026, month: 3, day: 29 });
    expect(localDate(new Date('2026-03-29T22:30:00Z'), 'Europe/Berlin')).toEqual({ year: 2026, month: 3, day: 30 });
    const backups = history(['2026-03-28T22:30:00Z', '2026-03-28T23:30:00Z', '2026-03-29T21:30:00Z', '2026-03-29T22:30:00Z']);
    const d = applyRetention(backups, { timeZone: 'Europe/Berlin', daily: 3 }, none, new Date('2026-04-01Z'));
    // 28th: b0; 29th: b1, b2 (newest b2); 30th: b3.
    expect(kept(d)).toEqual(['b0', 'b2', 'b3']);
    const utc = applyRetention(backups, { ...UTC, daily: 3 }, none, new Date('2026-04-01Z'));
    // UTC days: 28th: b0, b1 (newest b1); 29th: b2, b3 (newest b3).
    expect(kept(utc)).toEqual(['b1', 'b3']);
  });

  it('a pinned backup is kept whatever the rules say', () => {
    const backups = history(['2026-01-01Z', '2026-01-02Z', '2026-01-03Z']);
    const d = applyRetention(backups, { ...UTC, full: 1 }, new Set(['b0']), new Date('2026-02-01Z'));
    expect(kept(d)).toEqual(['b0', 'b2']);
    expect(d.keep[0]!.reasons).toEqual(['pinned']);
    expect(d.thinned.map((b) => b.id)).toEqual(['b0']);
  });

  it('rules combine: a backup is kept when any rule keeps it', () => {
    const backups = history(['2026-01-01T12:00:00Z', '2026-01-15T12:00:00Z', '2026-02-01T12:00:00Z', '2026-02-02T12:00:00Z']);
    const d = applyRetention(backups, { ...UTC, full: 1, monthly: 2 }, none, new Date('2026-02-03Z'));
    expect(kept(d)).toEqual(['b1', 'b3']);
    expect(d.keep.find((k) => k.backup.id === 'b3')!.reasons).toEqual(['newest', 'full', 'monthly']);
  });
});

describe('expiredWal', () => {
  it('keeps WAL continuously from the oldest FULL/window backup, and only start..stop of a thinned one', () => {
    // b0 in 1..2, b1 in 3..4, b2 in 5..6, b3 in 7..8; FULL=1 keeps b3; pin keeps b1 (thinned).
    const backups = history(['2026-01-01Z', '2026-01-02Z', '2026-01-03Z', '2026-01-04Z']);
    const d = applyRetention(backups, { ...UTC, full: 1 }, new Set(['b1']), new Date('2026-02-01Z'));
    const names = [
      ...Array.from({ length: 11 }, (_, n) => segmentName(1, n)),
      '00000002.history',
      `${segmentName(1, 3)}.00000028.backup`,
      `${segmentName(1, 5)}.00000028.backup`,
      `${segmentName(1, 9)}.partial`,
    ];
    expect(expiredWal(names, d, SEG)).toEqual([
      segmentName(1, 0),
      segmentName(1, 1),
      segmentName(1, 2),
      segmentName(1, 5),
      `${segmentName(1, 5)}.00000028.backup`,
      segmentName(1, 6),
    ]);
  });

  it('orders by position, not by timeline: old WAL of timeline 2 goes before newer WAL of timeline 1', () => {
    const backups = history(['2026-01-01Z', '2026-01-02Z', '2026-01-03Z']);
    const d = applyRetention(backups, { ...UTC, full: 1 }, none, new Date('2026-02-01Z'));
    expect(expiredWal([segmentName(1, 3), segmentName(2, 1), segmentName(1, 2)], d, SEG)).toEqual([
      segmentName(2, 1),
      segmentName(1, 2),
      segmentName(1, 3),
    ]);
  });
});
