import { describe, expect, it } from 'vitest';
import { testBackup } from '../support/backups.js';
import { summariseWal } from '../../src/repository/wal-inventory.js';
import { archivedReach } from '../../src/repository/restorable-window.js';

/** The window as archive times bound it (the first step; the end from recorded transactions is tested end to end). */
const restorableWindow = (...args: Parameters<typeof archivedReach>) => {
  const r = archivedReach(...args);
  return r && { from: r.backup.stopTime, to: r.archivedTo, lastWal: r.lastWal };
};

const SEG = 16 * 1024 * 1024;
const seg = (n: number) => `00000001000000000000000${n.toString(16).toUpperCase()}`;

const backup = testBackup;

function archived(times: Record<number, string>) {
  const wal = summariseWal(
    Object.keys(times).map((n) => seg(Number(n))),
    SEG,
  );
  for (const [n, at] of Object.entries(times)) wal.archivedAt.set(seg(Number(n)), new Date(at));
  return wal;
}

describe('restorable window', () => {
  it('never ends before it starts: right after the first backup its last segment was stored before the recorded stop', () => {
    // The label said STOP TIME 21:36:59, recorded as 21:36:59.999 (the end of that second);
    // the stop segment was archived at 21:36:59.251, before pg_basebackup returned.
    const first = backup('20261204T213655Z-aaaa', 2, 3, '2026-12-04T21:36:59.999Z');
    const wal = archived({ 2: '2026-12-04T21:36:58.100Z', 3: '2026-12-04T21:36:59.251Z' });
    const window = restorableWindow([first], wal, new Map(), SEG)!;
    expect(window.from).toBe('2026-12-04T21:36:59.999Z');
    expect(new Date(window.to).getTime()).toBeGreaterThanOrEqual(new Date(window.from).getTime());
    expect(window).toEqual({ from: '2026-12-04T21:36:59.999Z', to: '2026-12-04T21:36:59.999Z', lastWal: seg(3) });
  });

  it('ends at the archive time of the last segment replay reaches, once WAL after the backup is archived', () => {
    const first = backup('20261204T213655Z-aaaa', 2, 3, '2026-12-04T21:36:59.999Z');
    const wal = archived({ 2: '2026-12-04T21:36:58.100Z', 3: '2026-12-04T21:36:59.251Z', 4: '2026-12-04T21:40:00.000Z' });
    expect(restorableWindow([first], wal, new Map(), SEG)).toEqual({
      from: '2026-12-04T21:36:59.999Z',
      to: '2026-12-04T21:40:00.000Z',
      lastWal: seg(4),
    });
  });

  it('starts at the backup of the stretch that reaches furthest when a gap splits the archive', () => {
    const old = backup('20261204T200000Z-aaaa', 1, 1, '2026-12-04T20:00:10.000Z');
    const after = backup('20261204T210000Z-bbbb', 4, 4, '2026-12-04T21:00:10.000Z');
    // Segment 3 is missing: the old backup reaches only segment 2.
    const wal = archived({
      1: '2026-12-04T20:00:05.000Z',
      2: '2026-12-04T20:30:00.000Z',
      4: '2026-12-04T21:00:05.000Z',
      5: '2026-12-04T21:30:00.000Z',
    });
    expect(restorableWindow([old, after], wal, new Map(), SEG)).toEqual({
      from: '2026-12-04T21:00:10.000Z',
      to: '2026-12-04T21:30:00.000Z',
      lastWal: seg(5),
    });
  });
});

describe('restorable window over many backups', () => {
  it('gives every backup the end of its own run, whether a later run was walked first or not', async () => {
    const { KnownRuns } = await import('../../src/repository/replay.js');
    const names = [2, 3, 4, 5, 7, 8, 9].map((n) => seg(n));
    const wal = summariseWal(names, SEG);
    const history = [{ timeline: 1, begin: 0n, end: null }];
    const runs = new KnownRuns();
    // Later run first, then a start inside it, then an earlier run that ends at the gap.
    expect(runs.end(wal, history, 8n, SEG)).toBe(9n);
    expect(runs.end(wal, history, 7n, SEG)).toBe(9n);
    expect(runs.end(wal, history, 9n, SEG)).toBe(9n);
    expect(runs.end(wal, history, 2n, SEG)).toBe(5n);
    expect(runs.end(wal, history, 3n, SEG)).toBe(5n);
    expect(runs.end(wal, history, 6n, SEG)).toBe(5n); // first - 1: not archived
    // A walk that meets a known run's start takes its end.
    const joined = new KnownRuns();
    const all = summariseWal(
      [2, 3, 4, 5, 6, 7, 8, 9].map((n) => seg(n)),
      SEG,
    );
    expect(joined.end(all, history, 7n, SEG)).toBe(9n);
    expect(joined.end(all, history, 2n, SEG)).toBe(9n);
  });
});
