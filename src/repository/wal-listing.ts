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

/**
 * The newest WAL of every timeline: one delimiter listing of wal/ (log directories and
 * history files), then one listing of the newest log directory per timeline.
 */
export async function timelineTips(storage: Storage): Promise<TimelineTip[]> {
  const top = await storage.list(WAL_PREFIX, { delimiter: '/' });
  const logsByTimeline = new Map<string, string[]>();
  for (const prefix of top.prefixes) {
    const dir = prefix.slice(WAL_PREFIX.length, -1);
    if (!/^[0-9A-F]{16}$/.test(dir)) continue;
    const timeline = dir.slice(0, 8);
    logsByTimeline.set(timeline, [...(logsByTimeline.get(timeline) ?? []), prefix]);
  }
  const histories = new Set(
    top.objects
      .map((o) => o.key.slice(WAL_PREFIX.length))
      .filter((n) => n.endsWith('.history'))
      .map((n) => n.slice(0, 8)),
  );
  const timelines = [...new Set([...logsByTimeline.keys(), ...histories])].sort();
  return Promise.all(
    timelines.map(async (timeline) => {
      const tip: TimelineTip = { timeline, history: histories.has(timeline) };
      for (const log of (logsByTimeline.get(timeline) ?? []).sort().reverse()) {
        const newest = newestSegment((await storage.list(log)).objects);
        if (newest) return { ...tip, lastWal: newest };
      }
      return tip;
    }),
  );
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
