// Look-ahead archiving. PostgreSQL runs archive_command once per file, one at a time; a
// process per 16 MiB segment that pays Node's start-up cannot keep up with a busy server. So
// the call for file N also archives the files already waiting (pg_wal/archive_status/*.ready),
// a few at a time, and records each one durably stored (spool.ts). PostgreSQL's later calls
// for those files find the record, re-check the file's SHA-256 and return at once.
//
// The durability contract is unchanged: the exit status is N's alone, and a record is written
// only after its file is in the repository. Nothing touches archive_status: PostgreSQL still
// calls for every file and marks it .done itself, so a look-ahead that dies half-way (or a
// lost record) only costs a normal push later. Chosen over pgBackRest's asynchronous spool
// process (no daemon to supervise, no second lock) and WAL-G's renaming of .ready files
// (PostgreSQL keeps sole ownership of archive_status). See docs/archiving.md.
import { readdir } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Logger } from '../log.js';
import { crashInLookaheadRequested, crashNow } from '../storage/fault.js';
import { parseWalFileName } from '../wal/names.js';
import { pushWalFile, type PushOptions, type PushResult } from './push.js';
import { recordArchived, recordedNames, sweepRecords } from './spool.js';

export interface LookaheadOptions extends PushOptions {
  /** Other .ready files to archive in this call (0: none). */
  lookahead: number;
  /** Files stored at once, N included. */
  concurrency: number;
  /** The repository URL as configured: a record counts only for the same repository. */
  repo: string;
  log: Logger;
}

export async function pushWithLookahead(path: string, o: LookaheadOptions): Promise<PushResult> {
  const walDir = join(o.dataDir, 'pg_wal');
  const waiting = o.lookahead > 0 ? await readyFiles(walDir, path, o.dataDir, o.lookahead) : [];
  let stored = 0;
  const tasks: (() => Promise<unknown>)[] = [
    () => pushWalFile(path, o),
    ...waiting.map((name) => async () => {
      const res = await pushWalFile(join(walDir, name), o);
      if (stored === 1 && crashInLookaheadRequested()) crashNow(); // stored, not yet recorded
      await recordArchived(o.dataDir, name, { sha256: res.sha256, size: res.size, repo: o.repo });
      stored++;
    }),
  ];
  const results = await runPool(tasks, o.concurrency);
  results.slice(1).forEach((r, i) => {
    if (r.status === 'rejected') o.log.warn({ wal: waiting[i], err: (r.reason as Error).message }, 'look-ahead push failed; PostgreSQL will push it again');
  });
  if (waiting.length > 0) o.log.info({ files: waiting.length, stored }, 'archived ahead of PostgreSQL');
  const first = results[0]!;
  if (first.status === 'rejected') throw first.reason;
  return first.value as PushResult;
}

/**
 * Files PostgreSQL has marked ready, other than `path` and those already recorded, in the
 * order it archives them (history files first, then by name), at most `limit`.
 */
async function readyFiles(walDir: string, path: string, dataDir: string, limit: number): Promise<string[]> {
  const [status, present] = await Promise.all([readdir(join(walDir, 'archive_status')).catch(() => [] as string[]), readdir(walDir).catch(() => [] as string[])]);
  const live = new Set(present);
  await sweepRecords(dataDir, live);
  const recorded = await recordedNames(dataDir);
  const self = basename(path);
  return status
    .filter((f) => f.endsWith('.ready'))
    .map((f) => f.slice(0, -'.ready'.length))
    .filter((n) => n !== self && !recorded.has(n) && live.has(n) && parseWalFileName(n) !== null)
    .sort((a, b) => Number(b.endsWith('.history')) - Number(a.endsWith('.history')) || (a < b ? -1 : 1))
    .slice(0, limit);
}

/** Runs tasks in order with at most `limit` at once; settles every one. */
async function runPool(tasks: (() => Promise<unknown>)[], limit: number): Promise<PromiseSettledResult<unknown>[]> {
  const results: PromiseSettledResult<unknown>[] = new Array(tasks.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < tasks.length; i = next++) {
      try {
        results[i] = { status: 'fulfilled', value: await tasks[i]!() };
      } catch (reason) {
        results[i] = { status: 'rejected', reason };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, tasks.length) }, worker));
  return results;
}
