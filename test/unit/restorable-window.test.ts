import { describe, expect, it } from 'vitest';
import { testBackup } from '../support/backups.js';
import { summariseWal } from '../../src/repository/wal-inventory.js';
import { restorableWindow } from '../../src/repository/restorable-window.js';

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
