import { describe, expect, it } from 'vitest';
import type { WalProblem } from '../../src/repository/wal-completeness.js';
import { summariseWal } from '../../src/repository/wal-inventory.js';

const SEG = 16 * 1024 * 1024;

describe('WAL inventory', () => {
  it('groups by timeline, finds gaps across log boundaries, and notes partials and histories', () => {
    const inv = summariseWal(
      [
        '000000010000000000000001',
        '000000010000000000000002',
        '000000010000000000000005',
        '0000000100000000000000FF',
        '000000010000000100000000',
        '000000010000000000000002.00000028.backup',
        '000000010000000000000006.partial',
        '00000002.history',
        '000000020000000000000006',
        'repository.json',
      ],
      SEG,
    );
    expect(inv.timelines).toEqual([
      {
        timeline: 1,
        first: '000000010000000000000001',
        last: '000000010000000100000000',
        segments: 5,
        gaps: [
          { from: '000000010000000000000003', to: '000000010000000000000004', missing: 2 },
          { from: '000000010000000000000006', to: '0000000100000000000000FE', missing: 249 },
        ],
        history: false,
        partials: ['000000010000000000000006.partial'],
        incomplete: [],
        damaged: [],
      },
      {
        timeline: 2,
        first: '000000020000000000000006',
        last: '000000020000000000000006',
        segments: 1,
        gaps: [],
        history: true,
        partials: [],
        incomplete: [],
        damaged: [],
      },
    ]);
    expect(inv.segments.has('000000010000000000000005')).toBe(true);
    expect(inv.histories).toEqual(new Set([2]));
  });

  it('counts objects that are not whole as not archived: gaps, named per timeline', () => {
    const names = [
      '000000010000000000000001',
      '000000010000000000000002',
      '000000010000000000000003',
      '000000010000000000000004',
      '00000002.history',
      '000000020000000000000004',
    ];
    const inv = summariseWal(
      names,
      SEG,
      new Map<string, WalProblem>([
        ['000000010000000000000002', { state: 'incomplete', stored: 42304, expected: 84601 }],
        ['000000010000000000000004', { state: 'damaged', message: 'bad header magic' }],
        ['00000002.history', { state: 'incomplete', stored: 10 }],
        ['000000020000000000000004', { state: 'missing' }],
      ]),
    );
    expect(inv.timelines[0]).toMatchObject({
      first: '000000010000000000000001',
      last: '000000010000000000000003',
      segments: 2,
      gaps: [{ from: '000000010000000000000002', to: '000000010000000000000002', missing: 1 }],
      incomplete: ['000000010000000000000002'],
      damaged: ['000000010000000000000004'],
    });
    expect(inv.timelines[1]).toMatchObject({ timeline: 2, segments: 0, history: false, incomplete: ['00000002.history'], damaged: [] });
    expect([...inv.segments].sort()).toEqual(['000000010000000000000001', '000000010000000000000003']);
    expect(inv.histories.size).toBe(0);
  });
});
