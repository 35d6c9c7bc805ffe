// Prefetching for restore_command. When recovery asks for segment N, a resident prefetcher
// (`pitr wal-prefetch`, prefetch-worker.ts) keeps the segments after N downloaded into a spool
// under pg_wal, so that the following calls are a local rename: bin/pitr serves them without
// starting Node.
//
// The spool's place, entries and formats: launcher/handoff.ts, shared with bin/pitr.
// A file is handed over only when its identity (os/file-identity.ts) is still the one
// recorded after it was verified, so a damaged, planted or half-written file never is. The
// spool is emptied (and its prefetcher stops) when PostgreSQL asks for a file it does not
// expect (a history file, another timeline, a step back) and when archiving starts after
// recovery. Only standard modules are imported: this is the hot path of restore_command.
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { prefetchRoot, spool, spoolOkLine, wantedLine } from '../launcher/handoff.js';
import { bootId } from '../os/boot-id.js';
import { replaceFile } from '../os/exclusive-temp.js';
import { waitUntil } from '../os/wait-until.js';
import { fileIdentity } from '../os/file-identity.js';
import { readTextQuietly } from '../os/quiet-fs.js';
import { parseWalFileName } from '../wal/names.js';
import { liveWorker, startWorker } from './workers.js';

export const PREFETCH_COMMAND = 'wal-prefetch';
export const SEGMENT = /^[0-9A-F]{24}$/;
/** What restore_command asks for and the spool may hold: segments and timeline history files. */
export function isSpoolName(name: string): boolean {
  const kind = parseWalFileName(name)?.kind;
  return kind === 'segment' || kind === 'history';
}

export const prefetcherPidFile = (dir: string) => join(dir, spool.PID);

/**
 * Moves a verified prefetched copy of `name` to `dest`: true when done. Waits while the
 * prefetcher is downloading it. When the spool does not expect `name`, its contents were a
 * wrong guess: the prefetcher is stopped and the spool emptied.
 */
export async function takePrefetched(dir: string, name: string, dest: string): Promise<boolean> {
  if (!existsSync(dir)) return false;
  // While the prefetcher lives and plans to fetch it: its download is on the way.
  const fetching = async () =>
    existsSync(join(dir, spool.planEntry(name))) && (await liveWorker(prefetcherPidFile(dir), PREFETCH_COMMAND)) !== null;
  await waitUntil(async () => !(await fetching()), { timeoutMs: 30_000, everyMs: 10 });
  const text = await readFile(join(dir, spool.okEntry(name)), 'utf8').catch(() => null);
  if (text === null) {
    if (!(await isAhead(dir, name))) await clearSpool(dir);
    return false;
  }
  const path = join(dir, name);
  const ok = spoolOkLine.parse(text);
  if (ok === null || ok.identity !== fileIdentity(path) || ok.boot !== bootId()) {
    await Promise.all([unlink(path), unlink(join(dir, spool.okEntry(name)))].map((p) => p.catch(() => undefined)));
    return false;
  }
  try {
    // Before the file leaves, as bin/pitr does: see there.
    await markWanted(dir, name);
    await rename(path, dest);
  } catch {
    return false; // another file system, say: the normal fetch serves it
  }
  return true;
}

/** Tells the prefetcher which segment recovery has reached. */
export async function markWanted(dir: string, name: string): Promise<void> {
  if (!SEGMENT.test(name)) return;
  await mkdir(dir, { recursive: true, mode: 0o700 });
  replaceFile(join(dir, spool.WANTED), wantedLine.format(name));
}

export async function readWanted(dir: string): Promise<string | null> {
  return wantedLine.parse(readTextQuietly(join(dir, spool.WANTED))); // synchronous: the prefetcher reads it on every wake-up
}

/** A later segment of the timeline recovery is on: the prefetcher may simply not be there yet. */
async function isAhead(dir: string, name: string): Promise<boolean> {
  const wanted = await readWanted(dir);
  return wanted !== null && SEGMENT.test(name) && name.slice(0, 8) === wanted.slice(0, 8) && name > wanted;
}

/** Starts the prefetcher for this spool unless it runs already. */
export async function ensurePrefetcher(dataDir: string, dir: string, flags: string[]): Promise<void> {
  if ((await liveWorker(prefetcherPidFile(dir), PREFETCH_COMMAND)) !== null) return;
  startWorker(PREFETCH_COMMAND, [], flags, dataDir);
}

/** Stops the prefetcher of this spool and removes it. */
async function clearSpool(dir: string): Promise<void> {
  const worker = await liveWorker(prefetcherPidFile(dir), PREFETCH_COMMAND);
  if (worker !== null && worker.pid !== process.pid) {
    try {
      process.kill(worker.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }
  await rm(dir, { recursive: true, force: true });
}

/** Every spool of the data directory: recovery is over. */
export async function clearAllSpools(dataDir: string): Promise<void> {
  const root = prefetchRoot(dataDir);
  for (const d of await readdir(root).catch(() => [] as string[])) await clearSpool(join(root, d));
  await rm(root, { recursive: true, force: true });
}
