// The commit/abort index against PostgreSQL's own reader: real WAL from a workload with small
// commits, aborts, prepared transactions, commits larger than a page (thousands of
// subtransactions, hundreds of dropped tables) and full-page images, scanned segment by segment
// and compared with what pg_waldump prints for the same files.
import { execa } from 'execa';
import { readFileSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PG_BIN, tempDir } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { formatLsn, parseLsn } from '../../src/wal/names.js';
import { scanTransactionEnds, type TransactionEnds } from '../../src/wal/transaction-ends.js';

const SEG = 16 * 1024 * 1024;

interface DumpedEnd {
  lsn: bigint;
  /** xl_tot_len. */
  length: number;
  time: string;
}

/** The commit and abort records pg_waldump reads from the archived files, with times as ISO µs. */
async function waldump(dir: string, first: string, last: string): Promise<DumpedEnd[]> {
  const res = await execa(join(PG_BIN, 'pg_waldump'), ['-p', dir, '-r', 'Transaction', first, last], { reject: false });
  const ends: DumpedEnd[] = [];
  for (const line of res.stdout.split('\n')) {
    const m =
      /len \(rec\/tot\):\s*\d+\/\s*(\d+),.*lsn: ([0-9A-F]+\/[0-9A-F]+).*desc: (\S+)(?: \d+:)? (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{6}) UTC/.exec(
        line,
      );
    if (m && ['COMMIT', 'ABORT', 'COMMIT_PREPARED', 'ABORT_PREPARED'].includes(m[3]!))
      ends.push({ lsn: parseLsn(m[2]!)!, length: Number(m[1]), time: `${m[4]!.replace(' ', 'T')}Z` });
  }
  return ends;
}

/** Where a record ends in its segment: its bytes, plus a 24-byte header per page it enters (past SEG: it runs on into the next one). */
function recordEnd(r: DumpedEnd): number {
  let pos = Number(r.lsn % BigInt(SEG));
  let left = r.length;
  for (;;) {
    const room = 8192 - (pos % 8192);
    if (left <= room) return pos + left;
    left -= room;
    pos += room + 24;
  }
}
const crossesSegment = (r: DumpedEnd) => recordEnd(r) > SEG;

/** What the scan of segment `segno` should find: the first and last end that begin in it and do not run on into the next one. */
function expected(ends: DumpedEnd[], segno: bigint): TransactionEnds {
  const mine = ends.filter((r) => r.lsn / BigInt(SEG) === segno && !crossesSegment(r));
  const end = (r: DumpedEnd | undefined) => r && { time: r.time, lsn: formatLsn(r.lsn) };
  return mine.length === 0 ? {} : { first: end(mine[0]), last: end(mine.at(-1)) };
}

describe('transaction ends in real WAL', () => {
  let cluster: Cluster;
  let dir: string;
  let segments: string[];

  beforeAll(async () => {
    dir = await tempDir('archived');
    cluster = await Cluster.create({ conf: { archive_mode: 'on', archive_command: `'cp %p ${dir}/%f'`, max_prepared_transactions: 5 } });
    await cluster.start();
    await cluster.query('CREATE TABLE t (id int, pad text)');
    await cluster.query("INSERT INTO t SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g");
    await cluster.query('CHECKPOINT'); // the updates below then write full-page images
    for (let i = 0; i < 300; i++) await cluster.query('UPDATE t SET id = id + 1 WHERE id % 300 = $1', [i]);
    await cluster.query('BEGIN; INSERT INTO t VALUES (-1); ROLLBACK');
    await cluster.query("BEGIN; INSERT INTO t VALUES (-2); PREPARE TRANSACTION 'a'");
    await cluster.query("COMMIT PREPARED 'a'");
    await cluster.query("BEGIN; INSERT INTO t VALUES (-3); PREPARE TRANSACTION 'b'");
    await cluster.query("ROLLBACK PREPARED 'b'");
    // A commit of 3,000 subtransactions: a record of ~12 KB, across pages.
    await cluster.query(
      'DO $$ BEGIN FOR i IN 1..3000 LOOP BEGIN INSERT INTO t VALUES (i); EXCEPTION WHEN OTHERS THEN NULL; END; END LOOP; END $$',
    );
    // Hundreds of dropped relations in one commit.
    await cluster.query('DO $$ BEGIN FOR i IN 1..300 LOOP EXECUTE format($f$CREATE TABLE d%s (i int)$f$, i); END LOOP; END $$');
    await cluster.query('DO $$ BEGIN FOR i IN 1..300 LOOP EXECUTE format($f$DROP TABLE d%s$f$, i); END LOOP; END $$');
    for (let i = 0; i < 2000; i++) await cluster.query('INSERT INTO t VALUES ($1)', [i]);
    const last = await cluster.switchWal();
    await cluster.waitArchived(last);
    segments = (await readdir(dir)).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
  }, 300_000);

  afterAll(async () => {
    await cluster?.stop('immediate');
  });

  it('finds every commit and abort pg_waldump finds, segment by segment, with its time and LSN', async () => {
    expect(segments.length).toBeGreaterThan(3);
    const records = await waldump(dir, segments[0]!, segments.at(-1)!);
    expect(records.length).toBeGreaterThan(2300);
    let withEnds = 0;
    for (const name of segments) {
      const segno = BigInt(`0x${name.slice(8, 16)}`) * 0x100n + BigInt(`0x${name.slice(16)}`);
      const found = scanTransactionEnds(readFileSync(join(dir, name)), 15);
      expect(found, name).toEqual(expected(records, segno));
      if (found.first) withEnds++;
    }
    expect(withEnds).toBeGreaterThan(3);
  });

  it('reads ends that span pages: each big commit is the last end of its segment cut off right after it', async () => {
    const records = await waldump(dir, segments[0]!, segments.at(-1)!);
    const big = records.filter((r) => r.length > 8192 && !crossesSegment(r));
    expect(big.length).toBeGreaterThanOrEqual(2); // the subtransactions' and the dropped tables' commits
    for (const r of big) {
      const name = segments.find((n) => BigInt(`0x${n.slice(16)}`) + BigInt(`0x${n.slice(8, 16)}`) * 0x100n === r.lsn / BigInt(SEG))!;
      const cut = readFileSync(join(dir, name));
      cut.fill(0, recordEnd(r)); // what follows was never written
      expect(scanTransactionEnds(cut, 15).last).toEqual({ time: r.time, lsn: formatLsn(r.lsn) });
    }
  });

  it('finds nothing in bytes that are not WAL, and stops at a page from another place', () => {
    expect(scanTransactionEnds(Buffer.alloc(SEG), 15)).toEqual({});
    const name = segments.at(-1)!; // thousands of small commits
    const segment = readFileSync(join(dir, name));
    const whole = scanTransactionEnds(segment, 15);
    // The pages after the last end's belong elsewhere (a recycled file's old pages): the last is found before them.
    const lastPage = Number(parseLsn(whole.last!.lsn)! % BigInt(SEG)) >> 13;
    const damaged = Buffer.from(segment);
    for (let page = lastPage; page < SEG / 8192; page++) damaged.writeUInt32LE(0xdead, page * 8192 + 8);
    const cut = scanTransactionEnds(damaged, 15);
    expect(cut.first).toEqual(whole.first);
    expect(parseLsn(cut.last!.lsn)!).toBeLessThan(parseLsn(whole.last!.lsn)!);
  });
});
