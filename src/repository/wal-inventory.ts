// What a repository holds of WAL: from one listing of wal/, every timeline's run of segments
// and its gaps (list, status, restore's check that the WAL it needs is there, expire, the
// agent's per-log parts in kept-reads.ts).
import { readArchivedFile } from './archived-file.js';
import type { ObjectInfo, Storage } from '../storage/storage.js';
import { historyFileName, parseWalFileName } from '../wal/names.js';
import { segmentFileName, segmentNumberOfName } from '../wal/segments.js';
import { parseTimelineHistory, type TimelineSpan } from '../wal/timeline-history.js';
import { WAL_PREFIX, walObjectKey } from './layout.js';
import { findUnusableWal, type WalProblem } from './wal-completeness.js';

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
  /** Objects cut off by an interrupted upload: not archived (counted as missing). */
  incomplete: string[];
  /** Objects that are not what pitr wrote under their name: not archived either. */
  damaged: string[];
}

export interface WalInventory {
  timelines: TimelineWal[];
  /** Every archived complete segment name, for membership checks. */
  segments: Set<string>;
  /** Timelines that have a .history file. */
  histories: Set<number>;
  /** When each archived file was stored (the store's modification time); filled by walInventory. */
  archivedAt: Map<string, Date>;
  /** Bytes stored under wal/ (every WAL object under its own key, whole or not); filled by walInventory. */
  storedBytes: number;
}

/**
 * An inventory as its readers see it: status, list and the restorable window only look up,
 * so the agent can hand them one put together from the parts it keeps (repository/kept-reads.ts).
 */
export type WalView = Omit<WalInventory, 'segments' | 'archivedAt' | 'histories'> & {
  readonly segments: ReadonlySet<string>;
  readonly archivedAt: ReadonlyMap<string, Date>;
  readonly histories: ReadonlySet<number>;
};

/**
 * Reads the inventory with one recursive listing of wal/. With `verify`, objects that are not
 * whole (wal-completeness.ts) do not count as archived: they leave gaps, and are named in
 * their timeline's `incomplete` or `damaged`.
 */
export async function walInventory(
  storage: Storage,
  segmentSize: number,
  options: {
    verify?: boolean;
    /** The listing of wal/, when the caller has made it already (one listing, not two). */ listing?: ObjectInfo[];
  } = {},
): Promise<WalInventory> {
  const objects = options.listing ?? (await storage.list(WAL_PREFIX)).objects;
  // One literal shape, not a spread: a spread of 100,000 listed objects costs ~20 MiB more.
  const named = objects
    .map((o) => ({ key: o.key, size: o.size, modified: o.modified, name: o.key.slice(o.key.lastIndexOf('/') + 1) }))
    .filter((o) => isArchivedWalKey(o.key));
  // A listed size too small for any whole object is free to check. Reading every header is
  // not: on file:// it is not needed either, because an object under its final name was
  // written under a temporary one and linked into place whole (storage/file.ts).
  const problems = options.verify
    ? await findUnusableWal(storage, named, { readHeads: !storage.atomicWrites })
    : new Map<string, WalProblem>();
  const inventory = summariseWal(
    named.map((o) => o.name),
    segmentSize,
    problems,
  );
  for (const o of named) if (!problems.has(o.name)) inventory.archivedAt.set(o.name, o.modified);
  inventory.storedBytes = named.reduce((sum, o) => sum + o.size, 0);
  return inventory;
}

/**
 * A WAL file's object under the key wal-fetch reads it from. An object under another key (a
 * directory set aside by hand, wal/0000000100000001-old/…) is not archived: list, status,
 * restore, verify and expire all leave it out.
 */
export function isArchivedWalKey(key: string): boolean {
  const file = parseWalFileName(key.slice(key.lastIndexOf('/') + 1));
  return file !== null && key === walObjectKey(file);
}

/** The parsed history files of `timelines`, read and verified (a timeline without one is left out). */
export async function readHistories(storage: Storage, timelines: Iterable<number>): Promise<Map<number, TimelineSpan[]>> {
  const histories = new Map<number, TimelineSpan[]>();
  await Promise.all(
    [...timelines].map(async (tli) => {
      const text = await readArchivedFile(storage, historyFileName(tli));
      if (text) histories.set(tli, parseTimelineHistory(tli, text.toString('utf8')));
    }),
  );
  return histories;
}

/**
 * Pure: groups archived file names by timeline and finds the holes in each run. Names with a
 * problem (wal-completeness.ts) are not archived: missing ones are left out, the others named.
 */
export function summariseWal(names: string[], segmentSize: number, problems: Map<string, WalProblem> = new Map()): WalInventory {
  const byTimeline = new Map<number, { segnos: bigint[]; partials: string[]; history: boolean; incomplete: string[]; damaged: string[] }>();
  const entry = (tli: number) => {
    let e = byTimeline.get(tli);
    if (!e) byTimeline.set(tli, (e = { segnos: [], partials: [], history: false, incomplete: [], damaged: [] }));
    return e;
  };
  const segments = new Set<string>();
  const histories = new Set<number>();
  for (const name of names) {
    const file = parseWalFileName(name);
    if (!file) continue;
    const tli = parseInt(file.timeline, 16);
    const problem = problems.get(name)?.state;
    if (problem === 'incomplete' || problem === 'damaged') entry(tli)[problem].push(name);
    if (problem !== undefined) continue;
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
      return {
        timeline,
        first: name(segnos[0]),
        last: name(segnos.at(-1)),
        segments: segnos.length,
        gaps,
        history: e.history,
        partials: e.partials.sort(),
        incomplete: e.incomplete.sort(),
        damaged: e.damaged.sort(),
      };
    });
  return { timelines, segments, histories, archivedAt: new Map(), storedBytes: 0 };
}
