// The agent's inventory joined from one part per log (repository/wal-parts.ts) says what one
// inventory of all the names says: the same runs, counts, gaps (within a log and across logs),
// partials, cut-off and damaged objects, histories and lookups. Random repositories, seeded.
import { describe, expect, it } from 'vitest';
import { joinWalParts } from '../../src/repository/wal-parts.js';
import { summariseWal, type WalInventory } from '../../src/repository/wal-inventory.js';
import type { WalProblem } from '../../src/repository/wal-completeness.js';
import { segmentFileName } from '../../src/wal/segments.js';

const SEG = 16 * 1024 * 1024;

function random(seed: number) {
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

describe('an inventory joined from its logs', () => {
  for (const seed of [1, 2, 3, 4, 5, 6, 7, 8]) {
    it(`is the inventory of all the names (seed ${seed})`, () => {
      const rnd = random(seed);
      const names: string[] = [];
      const problems = new Map<string, WalProblem>();
      for (let tli = 1; tli <= 1 + Math.floor(rnd() * 3); tli++) {
        if (tli > 1 || rnd() < 0.3) names.push(`${tli.toString(16).toUpperCase().padStart(8, '0')}.history`);
        // Runs across log boundaries (256 segments a log), with holes of every length.
        let segno = BigInt(Math.floor(rnd() * 600));
        for (let i = 0; i < 400; i++) {
          segno += rnd() < 0.9 ? 1n : BigInt(1 + Math.floor(rnd() * 300));
          const name = segmentFileName(tli, segno, SEG);
          names.push(rnd() < 0.02 ? `${name}.partial` : name);
          if (rnd() < 0.01) problems.set(name, { state: rnd() < 0.5 ? 'incomplete' : 'damaged' } as WalProblem);
        }
      }
      const whole = summariseWal(names, SEG, problems);

      const byLog = new Map<string, string[]>();
      const top: string[] = [];
      for (const n of names) {
        if (n.endsWith('.history')) top.push(n);
        else byLog.set(n.slice(0, 16), [...(byLog.get(n.slice(0, 16)) ?? []), n]);
      }
      const parts = new Map<string, WalInventory>([...byLog].map(([log, ns]) => [log, summariseWal(ns, SEG, problems)]));
      const joined = joinWalParts(summariseWal(top, SEG, problems), parts, SEG);

      expect(joined.timelines).toEqual(whole.timelines);
      expect([...joined.segments].sort()).toEqual([...whole.segments].sort());
      expect(joined.segments.size).toBe(whole.segments.size);
      expect([...joined.histories].sort()).toEqual([...whole.histories].sort());
      for (const n of names) expect(joined.segments.has(n), n).toBe(whole.segments.has(n));
      expect(whole.timelines.some((t) => t.gaps.length > 0)).toBe(true);
    });
  }
});
