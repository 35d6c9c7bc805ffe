// Everything a repository holds of WAL, per timeline, with the gaps in each timeline's run
// of segments. Used by `pitr list` and by restore's check that the WAL it needs is there.
import type { Storage } from '../storage/storage.js';
import { parseWalFileName } from '../wal/names.js';
import { segmentFileName, segmentNumberOfName } from '../wal/segments.js';
import { WAL_PREFIX } from './layout.js';

export interface WalGap {
  /** First and last missing segment names. */
  from: string;
  to: string;
  missing: number;
}

export interface TimelineWal {
  timeline: number;
  first: string | null;
  last: string | null;
  segments: number;
  gaps: WalGap[];
  history: boolean;
  partials: string[];
}

export interface WalInventory {
  timelines: TimelineWal[];
  /** Every archived complete segment name, for membership checks. */
  segments: Set<string>;
  /** Timelines that have a .history file. */
  histories: Set<number>;
  /** When each archived file was stored (the store's modification time); filled by walInventory. */
  archivedAt: Map<string, Date>;
}

/** Reads the inventory with one recursive listing of wal/. */
export async function walInventory(storage: Storage, segmentSize: number): Promise<WalInventory> {
  const { objects } = await storage.list(WAL_PREFIX);
  const named = objects.map((o) => ({ name: o.key.slice(o.key.lastIndexOf('/') + 1), modified: o.modified }));
  const inventory = summariseWal(named.map((o) => o.name), segmentSize);
  for (const o of named) inventory.archivedAt.set(o.name, o.modified);
  return inventory;
}

/** Pure: groups archived file names by timeline and finds the holes in each run. */
export function summariseWal(names: string[], segmentSize: number): WalInventory {
  const byTimeline = new Map<number, { segnos: bigint[]; partials: string[]; history: boolean }>();
  const entry = (tli: number) => {
    let e = byTimeline.get(tli);
    if (!e) byTimeline.set(tli, (e = { segnos: [], partials: [], history: false }));
    return e;
  };
  const segments = new Set<string>();
  const histories = new Set<number>();
  for (const name of names) {
    const file = parseWalFileName(name);
    if (!file) continue;
    const tli = parseInt(file.timeline, 16);
    if (file.kind === 'segment') {
      entry(tli).segnos.push(segmentNumberOfName(name, segmentSize));
      segments.add(name);
    } else if (file.kind === 'partial') entry(tli).partials.push(name);
    else if (file.kind === 'history') {
      entry(tli).history = true;
      histories.add(tli);
    }
  }
  const timelines: TimelineWal[] = [...byTimeline.entries()]
    .sort(([a], [b]) => a - b)
    .map(([timeline, e]) => {
      const segnos = e.segnos.sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const gaps: WalGap[] = [];
      for (let i = 1; i < segnos.length; i++) {
        const prev = segnos[i - 1]!;
        const cur = segnos[i]!;
        if (cur > prev + 1n) {
          gaps.push({
            from: segmentFileName(timeline, prev + 1n, segmentSize),
            to: segmentFileName(timeline, cur - 1n, segmentSize),
            missing: Number(cur - prev - 1n),
          });
        }
      }
      const name = (n: bigint | undefined) => (n === undefined ? null : segmentFileName(timeline, n, segmentSize));
      return { timeline, first: name(segnos[0]), last: name(segnos.at(-1)), segments: segnos.length, gaps, history: e.history, partials: e.partials.sort() };
    });
  return { timelines, segments, histories, archivedAt: new Map() };
}
