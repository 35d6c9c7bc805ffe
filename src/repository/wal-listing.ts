// Reads what WAL a repository holds, per timeline, with prefix listings only.
import type { ObjectInfo, Storage } from '../storage/storage.js';
import { parseWalFileName } from '../wal/names.js';
import { WAL_PREFIX } from './layout.js';

export interface TimelineTip {
  timeline: string;
  /** The newest archived segment (or .partial) on this timeline, if any. */
  lastWal?: { name: string; archivedAt: Date };
  history: boolean;
}

/** Timelines present in the repository, as 8-hex-digit strings, ascending. */
export async function listTimelines(storage: Storage): Promise<string[]> {
  const { prefixes } = await storage.list(WAL_PREFIX, { delimiter: '/' });
  return prefixes.map((p) => p.slice(WAL_PREFIX.length, -1)).filter((t) => /^[0-9A-F]{8}$/.test(t)).sort();
}

/** The newest WAL on one timeline: lists only the newest 4 GiB "log" directory that has segments. */
export async function timelineTip(storage: Storage, timeline: string): Promise<TimelineTip> {
  const base = `${WAL_PREFIX}${timeline}/`;
  const top = await storage.list(base, { delimiter: '/' });
  const history = top.objects.some((o) => o.key.endsWith('.history'));
  const logs = top.prefixes.sort().reverse();
  for (const log of logs) {
    const { objects } = await storage.list(log, { delimiter: '/' });
    const newest = newestSegment(objects);
    if (newest) return { timeline, history, lastWal: newest };
  }
  return { timeline, history };
}

function newestSegment(objects: ObjectInfo[]): { name: string; archivedAt: Date } | undefined {
  let best: { name: string; archivedAt: Date } | undefined;
  for (const o of objects) {
    const name = o.key.slice(o.key.lastIndexOf('/') + 1);
    const file = parseWalFileName(name);
    if (!file || (file.kind !== 'segment' && file.kind !== 'partial')) continue;
    if (!best || name > best.name) best = { name, archivedAt: o.modified };
  }
  return best;
}
