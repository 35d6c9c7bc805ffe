// The resident prefetcher (`pitr wal-prefetch`, started in the background by wal-fetch):
// keeps the `depth` segments after the one recovery took last (.wanted) downloaded into the
// spool, `concurrency` at a time, each verified like any fetch, then vouched for by its .ok
// file (identity, SHA-256, boot id). It follows recovery as calls take segments out
// (inotify on the spool, plus a poll), stops at the first segment not archived yet (and
// looks again every second: a standby's archive grows), and exits when its spool is removed,
// after `idleMs` without progress, when the server is gone, or at its first failure: the next call then downloads
// itself and reports the error. Layout and the hand-over rules: prefetch.ts.
//
// It also answers asks: bin/pitr, called for a file the spool does not hold (the end of the
// archive, a history file, the last segment again at the end of recovery), leaves
// `.ask.<name>` and waits. The answer is looked up now, after the ask: the file itself (with
// its .ok), or `.absent.<name>` carrying the asker's token, read as "not archived". Without
// this, every such call starts Node and the store's client, ~150-200 ms each, and recovery
// makes five of them at its end. Once recovery is over (the signal file gone while the
// server runs), it answers asks for 3 s more, then removes its spool and exits.
import { existsSync, renameSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { parseSpoolEntry, spool, spoolOkLine, tokenLine } from '../launcher/handoff.js';
import type { Logger } from '../log.js';
import { bootId } from '../os/boot-id.js';
import { replaceFile } from '../os/exclusive-temp.js';
import { BufferPool } from '../os/buffer-pool.js';
import type { KeySource } from '../codec/pipeline.js';
import { fileIdentity } from '../os/file-identity.js';
import { lstatQuietly, readdirQuietly, readTextQuietly, unlinkQuietly } from '../os/quiet-fs.js';
import type { Storage } from '../storage/storage.js';
import { segmentFileName, segmentNumberOfName } from '../wal/segments.js';
import { readSystemIdentifier } from '../pg/control-file.js';
import { fetchWalFile } from './fetch.js';
import { isSpoolName, PREFETCH_COMMAND, prefetcherPidFile, readWanted } from './prefetch.js';
import { runResident } from './resident-worker.js';

export interface PrefetcherOptions {
  /**
   * Opens the store and reads the repository's segment size; null: nothing to prefetch (an
   * empty repository). Called after the pid file and the first plan are in place, so that
   * calls wait for this process instead of downloading themselves while it starts.
   */
  connect: () => Promise<{ storage: Storage; segmentSize: number } | null>;
  dataDir: string;
  dir: string;
  fingerprint: string;
  /** Whether recovery's next call would still be configured as the one that started this run (launcher/fingerprint.ts). */
  stillConfigured: () => boolean;
  depth: number;
  concurrency: number;
  idleMs: number;
  /** The identities to decrypt with, read once per run. */
  keys?: KeySource;
  log: Logger;
}

/** Runs until idle, removed or failed; resolves with the number of segments fetched. */
export async function runPrefetcher(o: PrefetcherOptions): Promise<number> {
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  let fetched = 0;
  // The first segment found not archived, and when: the window stops there for a while.
  const missing: { end: { name: string; at: number } | null } = { end: null };
  /** Files fetched because a call asked for them: kept until taken, wherever they are. */
  const asked = new Set<string>();
  let overSince: number | null = null;
  // Set by start():
  let first: string | null = null;
  let opts: Connected;
  let lastWanted: string | null = null;
  let configuredAt = performance.now();

  await runResident(
    {
      command: PREFETCH_COMMAND,
      pidFile: prefetcherPidFile(o.dir),
      fingerprint: o.fingerprint,
      dataDir: o.dataDir,
      watchDir: o.dir,
      wakePipe: join(o.dir, spool.WAKE),
      idleMs: o.idleMs,
    },
    {
      async start() {
        // Left by a prefetcher that died: a cut-off download, plans nobody will carry out.
        for (const e of readdirQuietly(o.dir)) if (['fetching', 'plan'].includes(parseSpoolEntry(e).kind)) unlinkQuietly(join(o.dir, e));
        // Started by recovery's first call (a history file, before any segment): the backup's
        // first segment is planned at once, and fetched as soon as the store is open.
        first = (await readWanted(o.dir)) === null ? backupStartSegment(o.dataDir) : null;
        if (first !== null) writeFileSync(join(o.dir, spool.planEntry(first)), '');
        const connected = await o.connect();
        if (connected === null) return false;
        // The cluster's identifier, read once: every segment is checked against it.
        // Fetches decode and write with no await between: one buffer serves.
        opts = { ...o, ...connected, systemIdentifier: await readSystemIdentifier(o.dataDir), pool: new BufferPool(1) };
        return true;
      },

      async turn(r) {
        // Another configuration: the launcher computes another fingerprint and looks in another
        // spool, so nothing here is handed over any more; downloading on would only cost. Asked
        // every 250 ms at most: this loop wakes for every file recovery takes.
        if (performance.now() - configuredAt > 250) {
          if (!o.stillConfigured()) return 'stop';
          configuredAt = performance.now();
        }
        const wanted: string | null = (await readWanted(o.dir)) ?? lastWanted; // being rewritten: keep the last
        if (wanted !== lastWanted) {
          [lastWanted, missing.end] = [wanted, null];
          r.active();
        }
        if (missing.end !== null && performance.now() - missing.end.at > 1000) missing.end = null; // look again
        // Recovery over: no more prefetching, but asks are answered a while longer, because
        // PostgreSQL reads history files after it removes the signal file.
        if (recoveryOver(o.dataDir)) overSince ??= performance.now();
        const window =
          overSince !== null
            ? []
            : wanted !== null
              ? nextSegments(wanted, o.depth, opts.segmentSize)
              : first !== null
                ? [first, ...nextSegments(first, o.depth - 1, opts.segmentSize)]
                : [];
        const entries = readdirQuietly(o.dir);
        // Taken, or behind recovery: gone. What PostgreSQL took was renamed away already.
        const keep = new Set([wanted, ...window, ...asked]);
        for (const e of entries) {
          const entry = parseSpoolEntry(e);
          if (entry.kind !== 'file' && entry.kind !== 'ok') continue;
          // The .ok of a file already taken vouches for nothing.
          const taken = entry.kind === 'ok' && !entries.includes(entry.name);
          if ((!keep.has(entry.name) && !r.inflight.has(entry.name)) || taken) unlinkQuietly(join(o.dir, e));
        }
        for (const e of entries) {
          const entry = parseSpoolEntry(e);
          if (entry.kind !== 'ask') continue;
          const { name } = entry;
          const token = tokenLine.parse(readTextQuietly(join(o.dir, e)));
          if (token === null) continue; // still being written: its write wakes us again
          // Being fetched for the window: asked again once that ends (its end wakes us), since a
          // window fetch that finds nothing leaves no answer.
          if (r.inflight.has(name)) continue;
          unlinkQuietly(join(o.dir, e));
          if (!isSpoolName(name)) continue;
          asked.add(name);
          r.track(name, answer(name, token, opts));
        }
        dropOldAnswers(o.dir, entries);
        // A plan the window has left will not be carried out; a call waiting on it would wait
        // its full 30 s, at the end of recovery when PostgreSQL asks for the last segment again.
        for (const e of entries) {
          const entry = parseSpoolEntry(e);
          if (entry.kind === 'plan' && !window.includes(entry.name) && !r.inflight.has(entry.name)) unlinkQuietly(join(o.dir, e));
        }
        // An asked-for file that was taken, or not found, needs keeping no longer.
        for (const n of asked) if (!r.inflight.has(n) && !entries.includes(n)) asked.delete(n);
        const have = new Set(entries.map(parseSpoolEntry).flatMap((entry) => (entry.kind === 'ok' ? [entry.name] : [])));
        const todo = window.filter((n) => !have.has(n) && !r.inflight.has(n) && (missing.end === null || n < missing.end.name));
        for (const n of todo) if (!entries.includes(spool.planEntry(n))) writeFileSync(join(o.dir, spool.planEntry(n)), '');
        for (const name of todo.slice(0, Math.max(0, o.concurrency - r.inflight.size))) {
          r.track(
            name,
            fetchOne(name, opts).then((found) => {
              if (found) fetched++;
              else if (missing.end === null || name < missing.end.name) missing.end = { name, at: performance.now() };
              // Plans past the end of the archive will not be carried out now.
              if (!found) for (const n of window) if (n >= name) unlinkQuietly(join(o.dir, spool.planEntry(n)));
            }),
          );
        }
        if (overSince !== null && r.inflight.size === 0 && performance.now() - overSince > 3000) {
          await rm(o.dir, { recursive: true, force: true });
          return 'stop';
        }
        // The idle clock runs from recovery's last step (above), not from the last download.
        return r.inflight.size === 0 && todo.length === 0 ? 'idle' : 'busy';
      },

      cleanup() {
        if (existsSync(o.dir)) for (const e of readdirQuietly(o.dir)) if (parseSpoolEntry(e).kind === 'plan') unlinkQuietly(join(o.dir, e));
      },
    },
  );
  return fetched;
}

type Connected = PrefetcherOptions & { storage: Storage; segmentSize: number; systemIdentifier: string | null; pool: BufferPool };

/** Downloads one segment into the spool; false when it is not archived (yet). */
async function fetchOne(name: string, o: Connected): Promise<boolean> {
  const staging = join(o.dir, spool.fetchingEntry(name));
  const plan = join(o.dir, spool.planEntry(name));
  try {
    // No fsync where the boot id vouches instead (os/boot-id.ts): it would only slow recovery.
    const boot = bootId();
    const res = await fetchWalFile(name, staging, {
      storage: o.storage,
      dataDir: o.dataDir,
      durable: boot === '-',
      systemIdentifier: o.systemIdentifier,
      pool: o.pool,
      keys: o.keys,
    });
    if (res.status === 'not-found') return false;
    const path = join(o.dir, name);
    renameSync(staging, path);
    // No stillness wait (os/file-identity.ts): this process wrote the file and is done with it.
    const identity = fileIdentity(path);
    if (identity === null) return false; // taken away meanwhile: the spool was cleared
    replaceFile(join(o.dir, spool.okEntry(name)), spoolOkLine.format({ identity, checksum: res.checksum, boot }));
    return true;
  } finally {
    unlinkQuietly(staging);
    unlinkQuietly(plan);
  }
}

/** Looks `name` up now, for a call waiting on it: into the spool, or `.absent.<name>` with the asker's token. */
async function answer(name: string, token: string, o: Connected): Promise<void> {
  unlinkQuietly(join(o.dir, spool.okEntry(name))); // left from an earlier hand-over
  if (await fetchOne(name, o)) return;
  replaceFile(join(o.dir, spool.absentEntry(name)), tokenLine.format(token));
}

/** An answer is read within milliseconds; an old one could only mislead a later asker whose token repeats. */
function dropOldAnswers(dir: string, entries: string[]): void {
  for (const e of entries.filter((e) => parseSpoolEntry(e).kind === 'absent')) {
    const path = join(dir, e);
    const stat = lstatQuietly(path);
    if (stat !== null && Date.now() - stat.mtimeMs > 2000) unlinkQuietly(path);
  }
}

/** The first segment a restored base backup replays, from its backup_label; null without one. */
function backupStartSegment(dataDir: string): string | null {
  const label = readTextQuietly(join(dataDir, 'backup_label'));
  return /^START WAL LOCATION: \S+ \(file ([0-9A-F]{24})\)$/m.exec(label)?.[1] ?? null;
}

/** The server runs and its recovery signal files are gone: recovery is over. */
function recoveryOver(dataDir: string): boolean {
  return (
    existsSync(join(dataDir, 'postmaster.pid')) &&
    !existsSync(join(dataDir, 'recovery.signal')) &&
    !existsSync(join(dataDir, 'standby.signal'))
  );
}

function nextSegments(name: string, depth: number, segmentSize: number): string[] {
  const timeline = parseInt(name.slice(0, 8), 16);
  const segno = segmentNumberOfName(name, segmentSize);
  return Array.from({ length: depth }, (_, i) => segmentFileName(timeline, segno + BigInt(i + 1), segmentSize));
}
