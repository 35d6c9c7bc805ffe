// What the commit/abort index costs the archiver per segment (wal/transaction-ends.ts): the
// scan timed in this process on real segments, warm as in the resident archiver (it runs for
// every segment pushed) and the first call as a one-shot wal-push pays it. Bulk-load WAL is
// the worst case (no commit until the end: every record is walked); OLTP WAL the usual one.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { scanTransactionEnds } from '../../src/wal/transaction-ends.js';
import { quantile, say, table } from './common.js';

export function benchTransactionIndex(walDir: string, sets: { label: string; names: string[] }[]): void {
  const rows: (string | number)[][] = [];
  for (const { label, names } of sets) {
    if (names.length === 0) continue;
    const segments = names.map((n) => readFileSync(join(walDir, n)));
    const time = (seg: Buffer) => {
      const start = process.hrtime.bigint();
      scanTransactionEnds(seg, 15);
      return Number(process.hrtime.bigint() - start) / 1e6;
    };
    const first = time(segments[0]!);
    for (let pass = 0; pass < 3; pass++) for (const seg of segments) time(seg); // warm, as the resident archiver is
    const warm = segments.map(time).sort((a, b) => a - b);
    const found = segments.filter((s) => scanTransactionEnds(s, 15).last).length;
    rows.push([label, names.length, found, first.toFixed(1), quantile(warm, 0.5).toFixed(2), quantile(warm, 0.95).toFixed(2)]);
  }
  say();
  say('The commit/abort index (first and last transaction end of each segment), CPU per segment in one process:');
  table(['WAL', 'segments', 'with a transaction end', 'first call ms (cold)', 'warm median ms', 'warm p95 ms'], rows);
}
