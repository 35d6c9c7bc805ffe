// One inventory of wal/ put together from inventories of its parts: the agent keeps one per
// 4 GiB log (wal/<timeline><log>/) and reads again only the logs that changed
// (repository/kept-reads.ts), so a health watch costs what changed, not what the repository
// holds. The whole is what walInventory would make of one listing of all the parts: the same
// runs, gaps (those between two logs too), counts and lookups; the lookups route a name to its
// log's part instead of copying 100,000 names into one set at every watch.
import { segmentFileName, segmentNumberOfName } from '../wal/segments.js';
import type { TimelineWal, WalInventory, WalView } from './wal-inventory.js';

/**
 * `top`: the inventory of wal/'s own objects (the history files); `logs`: each log's, keyed by
 * its 16 hex digits (timeline and log, the first 16 of each name in it), in any order.
 */
export function joinWalParts(top: WalInventory, logs: ReadonlyMap<string, WalInventory>, segmentSize: number): WalView {
  const ordered = [...logs.keys()].sort().map((k) => logs.get(k)!);
  const timelines = new Map<number, TimelineWal>();
  for (const part of [top, ...ordered])
    for (const t of part.timelines) {
      const joined = timelines.get(t.timeline);
      if (!joined) {
        timelines.set(t.timeline, {
          ...t,
          gaps: [...t.gaps],
          partials: [...t.partials],
          incomplete: [...t.incomplete],
          damaged: [...t.damaged],
        });
        continue;
      }
      if (joined.last !== null && t.first !== null) {
        const after = segmentNumberOfName(joined.last, segmentSize) + 1n;
        const next = segmentNumberOfName(t.first, segmentSize);
        if (next > after)
          joined.gaps.push({
            from: segmentFileName(t.timeline, after, segmentSize),
            to: segmentFileName(t.timeline, next - 1n, segmentSize),
            missing: Number(next - after),
          });
      }
      joined.first ??= t.first;
      if (t.last !== null) joined.last = t.last;
      joined.segments += t.segments;
      joined.gaps.push(...t.gaps);
      joined.history ||= t.history;
      joined.partials.push(...t.partials);
      joined.incomplete.push(...t.incomplete);
      joined.damaged.push(...t.damaged);
    }
  const route = (name: string) => logs.get(name.slice(0, 16));
  return {
    timelines: [...timelines.values()].sort((a, b) => a.timeline - b.timeline),
    segments: new RoutedSet(
      ordered.map((p) => p.segments),
      (name) => route(name)?.segments,
    ),
    archivedAt: new RoutedMap(
      [top, ...ordered].map((p) => p.archivedAt),
      (name) => route(name)?.archivedAt ?? top.archivedAt,
    ),
    histories: top.histories,
    storedBytes: ordered.reduce((sum, p) => sum + p.storedBytes, top.storedBytes),
  };
}

/** A read-only set over disjoint parts, a name looked up in the one part it can be in. */
class RoutedSet implements ReadonlySet<string> {
  constructor(
    private readonly parts: readonly ReadonlySet<string>[],
    private readonly partOf: (name: string) => ReadonlySet<string> | undefined,
  ) {}
  get size(): number {
    return this.parts.reduce((n, p) => n + p.size, 0);
  }
  has(name: string): boolean {
    return this.partOf(name)?.has(name) ?? false;
  }
  *values(): SetIterator<string> {
    for (const p of this.parts) yield* p;
  }
  keys(): SetIterator<string> {
    return this.values();
  }
  *entries(): SetIterator<[string, string]> {
    for (const v of this.values()) yield [v, v];
  }
  [Symbol.iterator](): SetIterator<string> {
    return this.values();
  }
  forEach(f: (value: string, key: string, set: ReadonlySet<string>) => void): void {
    for (const v of this.values()) f(v, v, this);
  }
}

/** A read-only map over disjoint parts, the same way. */
class RoutedMap<V> implements ReadonlyMap<string, V> {
  constructor(
    private readonly parts: readonly ReadonlyMap<string, V>[],
    private readonly partOf: (name: string) => ReadonlyMap<string, V>,
  ) {}
  get size(): number {
    return this.parts.reduce((n, p) => n + p.size, 0);
  }
  get(name: string): V | undefined {
    return this.partOf(name).get(name);
  }
  has(name: string): boolean {
    return this.partOf(name).has(name);
  }
  *entries(): MapIterator<[string, V]> {
    for (const p of this.parts) yield* p;
  }
  *keys(): MapIterator<string> {
    for (const p of this.parts) yield* p.keys();
  }
  *values(): MapIterator<V> {
    for (const p of this.parts) yield* p.values();
  }
  [Symbol.iterator](): MapIterator<[string, V]> {
    return this.entries();
  }
  forEach(f: (value: V, key: string, map: ReadonlyMap<string, V>) => void): void {
    for (const [k, v] of this.entries()) f(v, k, this);
  }
}
