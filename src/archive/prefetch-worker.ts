// The resident prefetcher (`pitr wal-prefetch`, started in the background by wal-fetch):
// keeps the `depth` segments after the one recovery took last (.wanted) downloaded into the
// spool, `concurrency` at a time, each verified like any fetch, then vouched for by its .ok
// file (identity, SHA-256, boot id). It follows recovery as calls take segments out
// (inotify on the spool, plus a poll), stops at the first segment not archived yet (and
// looks again every second: a standby's archive grows), and exits when its spool is removed,
// after `idleMs` without progress, when the server is gone, or at its first failure: the next call then downloads
// itself and reports the error. Layout and the hand-over rules: prefetch.ts.
import { existsSync, watch } from 'node:fs';
import { mkdir, readdir, rename, rm, unlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { bootId } from '../os/boot-id.js';
import { fileIdentity } from '../os/file-identity.js';
import type { Storage } from '../storage/storage.js';
import { segmentFileName, segmentNumberOfName } from '../wal/segments.js';
import { fetchWalFile } from './fetch.js';
import { PREFETCH_COMMAND, prefetcherPidFile, readWanted } from './prefetch.js';
import { lockWorker, unlockWorker, waiter } from './workers.js';

export interface PrefetcherOptions {
  storage: Storage;
  dataDir: string;
  dir: string;
  fingerprint: string;
  depth: number;
  concurrency: number;
  segmentSize: number;
  idleMs: number;
  log: Logger;
}

/** Runs until idle, removed or failed; resolves with the number of segments fetched. */
export async function runPrefetcher(o: PrefetcherOptions): Promise<number> {
  await mkdir(o.dir, { recursive: true, mode: 0o700 });
  if (!(await lockWorker(prefetcherPidFile(o.dir), PREFETCH_COMMAND, o.fingerprint))) return 0;
  const { wait, wake } = waiter();
  const inflight = new Map<string, Promise<void>>();
  let failure: unknown = null;
  let fetched = 0;
  // The first segment found not archived, and when: the window stops there for a while.
  const missing: { end: { name: string; at: number } | null } = { end: null };
  const watcher = watch(o.dir, wake);
  watcher.on('error', wake);
  try {
    // Left by a prefetcher that died: a cut-off download, plans nobody will carry out.
    for (const e of await readdir(o.dir)) if (e.endsWith('.fetching') || e.startsWith('.plan.')) await unlink(join(o.dir, e)).catch(() => undefined);
    let lastWanted: string | null = null;
    let idleSince = Date.now();
    while (failure === null && existsSync(o.dir)) {
      const wanted: string | null = (await readWanted(o.dir)) ?? lastWanted; // being rewritten: keep the last
      if (wanted !== lastWanted) {
        [lastWanted, idleSince, missing.end] = [wanted, Date.now(), null];
      }
      if (missing.end !== null && Date.now() - missing.end.at > 1000) missing.end = null; // look again
      const window = wanted === null ? [] : nextSegments(wanted, o.depth, o.segmentSize);
      const entries = await readdir(o.dir).catch(() => [] as string[]);
      // Taken, or behind recovery: gone. What PostgreSQL took was renamed away already.
      const keep = new Set([wanted, ...window]);
      for (const e of entries) if (!e.startsWith('.') && !keep.has(e.slice(0, 24)) && !inflight.has(e.slice(0, 24))) await unlink(join(o.dir, e)).catch(() => undefined);
      const have = new Set(entries.filter((e) => e.endsWith('.ok')).map((e) => e.slice(0, 24)));
      const todo = window.filter((n) => !have.has(n) && !inflight.has(n) && (missing.end === null || n < missing.end.name));
      for (const n of todo) if (!entries.includes(`.plan.${n}`)) await writeFile(join(o.dir, `.plan.${n}`), '');
      for (const name of todo.slice(0, Math.max(0, o.concurrency - inflight.size))) {
        const job = fetchOne(name, o)
          .then(async (found) => {
            if (found) fetched++;
            else if (missing.end === null || name < missing.end.name) missing.end = { name, at: Date.now() };
            // Plans past the end of the archive will not be carried out now.
            if (!found) for (const n of window) if (n >= name) await unlink(join(o.dir, `.plan.${n}`)).catch(() => undefined);
          })
          .catch((err) => void (failure ??= err))
          .finally(() => {
            inflight.delete(name);
            wake();
          });
        inflight.set(name, job);
      }
      const idle = inflight.size === 0 && todo.length === 0;
      if (idle && (Date.now() - idleSince > o.idleMs || !existsSync(join(o.dataDir, 'postmaster.pid')))) break;
      await wait(250);
    }
    await Promise.all(inflight.values());
  } finally {
    watcher.close();
    if (existsSync(o.dir)) for (const e of await readdir(o.dir).catch(() => [] as string[])) if (e.startsWith('.plan.')) await unlink(join(o.dir, e)).catch(() => undefined);
    await unlockWorker(prefetcherPidFile(o.dir));
  }
  if (failure !== null) throw failure;
  return fetched;
}

/** Downloads one segment into the spool; false when it is not archived (yet). */
async function fetchOne(name: string, o: PrefetcherOptions): Promise<boolean> {
  const staging = join(o.dir, `.${name}.fetching`);
  const plan = join(o.dir, `.plan.${name}`);
  try {
    // No fsync where the boot id vouches instead (os/boot-id.ts): it would only slow recovery.
    const boot = bootId();
    const res = await fetchWalFile(name, staging, { storage: o.storage, dataDir: o.dataDir, durable: boot === '-' });
    if (res.status === 'not-found') return false;
    const path = join(o.dir, name);
    await rename(staging, path);
    // No stillness wait (os/file-identity.ts): this process wrote the file and is done with it.
    const identity = fileIdentity(path);
    if (identity === null) return false; // taken away meanwhile: the spool was cleared
    const tmp = join(o.dir, `.${name}.ok.tmp`);
    await writeFile(tmp, `${identity} ${res.sha256} ${boot}\n`);
    await rename(tmp, `${path}.ok`);
    return true;
  } finally {
    await rm(staging, { force: true });
    await unlink(plan).catch(() => undefined);
  }
}

function nextSegments(name: string, depth: number, segmentSize: number): string[] {
  const timeline = parseInt(name.slice(0, 8), 16);
  const segno = segmentNumberOfName(name, segmentSize);
  return Array.from({ length: depth }, (_, i) => segmentFileName(timeline, segno + BigInt(i + 1), segmentSize));
}
