// wal-push and wal-fetch run once per WAL segment: the path from dist/main.js to their
// handlers must not load yargs (~50 ms). Read from the bundle the global setup built: every
// chunk main.js can load, statically or dynamically, except through the full CLI's chunk.
import { readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../../tools/harness/env.js';

/** The sources a chunk was built from (its source map). */
const sourcesOf = (chunk: string): string[] => JSON.parse(readFileSync(`${chunk}.map`, 'utf8')).sources as string[];

function reachable(entry: string, skip: (chunk: string) => boolean): Set<string> {
  const seen = new Set<string>();
  const visit = (chunk: string) => {
    if (seen.has(chunk) || skip(chunk)) return;
    seen.add(chunk);
    const text = readFileSync(chunk, 'utf8');
    for (const [, spec] of text.matchAll(/(?:from|import)\s*\(?\s*["'](\.\.?\/[^"']+\.js)["']/g)) visit(resolve(dirname(chunk), spec!));
  };
  visit(entry);
  return seen;
}

describe('the hot path', () => {
  it('reaches no yargs: wal-push, wal-fetch and the workers load without it', () => {
    const isFullCli = (chunk: string) => sourcesOf(chunk).some((s) => s.endsWith('src/cli/full.ts'));
    const hot = reachable(join(ROOT, 'dist', 'main.js'), isFullCli);
    const sources = [...hot].flatMap(sourcesOf);
    // The control: the walk does reach the hot commands' modules.
    for (const module of ['src/cli/fast.ts', 'src/commands/wal-push.ts', 'src/archive/push-call.ts', 'src/archive/fetch-call.ts'])
      expect(
        sources.some((s) => s.endsWith(module)),
        module,
      ).toBe(true);
    expect(sources.filter((s) => s.includes('node_modules/yargs'))).toEqual([]);
    // And yargs is in the bundle at all, in the chunk skipped: the walk would see it otherwise.
    const all = reachable(join(ROOT, 'dist', 'main.js'), () => false);
    expect([...all].flatMap(sourcesOf).some((s) => s.includes('node_modules/yargs'))).toBe(true);
  });
});
