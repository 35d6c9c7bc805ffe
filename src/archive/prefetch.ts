// Prefetching for restore_command. When recovery asks for segment N, a background
// `pitr wal-prefetch N` downloads the next segments into a spool under pg_wal, so that the
// following calls are a local rename instead of a download plus the store's start-up.
//
// Safety: a spooled file is verified like any fetch (size, SHA-256, cluster) before it is
// renamed into the spool, fsynced, and named <segment>.<sha256>; handing it over re-hashes it
// against that name, so a damaged or foreign file is never given to PostgreSQL (it is
// deleted and fetched normally). The spool is per repository, bounded by a count of
// segments, and emptied (the prefetcher stopped) whenever PostgreSQL asks for a file the
// spool does not hold: a timeline switch, a history file, the end of recovery.
// Only standard modules are imported: this is the hot path of every restore_command call.
import { spawn } from 'node:child_process';
import { mkdir, open, readdir, readFile, rename, rm, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { sha256 } from '../codec/object-format.js';
import { processAlive } from '../os/process.js';
import { fileDigest } from './spool.js';

const SEGMENT = /^[0-9A-F]{24}$/;

export function prefetchSpool(dataDir: string, repo: string): string {
  return join(dataDir, 'pg_wal', 'pitr', 'prefetch', sha256(Buffer.from(repo)).slice(0, 12));
}

/**
 * Moves a verified prefetched copy of `name` to `dest`: true when done. When the spool does not
 * hold `name`, its contents were a wrong guess: the prefetcher is stopped and the spool emptied.
 */
export async function takePrefetched(dataDir: string, repo: string, name: string, dest: string): Promise<boolean> {
  const dir = prefetchSpool(dataDir, repo);
  const entries = await readdir(dir).catch(() => null);
  if (entries === null) return false;
  const file = entries.find((e) => e.startsWith(`${name}.`) && !e.endsWith('.tmp'));
  if (!file) {
    // Not yet downloaded (the prefetcher is behind): leave it be. Anything else (a history
    // file, another timeline, a step back) means the guesses in the spool are wrong.
    const spooled = entries.filter((e) => SEGMENT.test(e.slice(0, 24)) && !e.startsWith('.')).map((e) => e.slice(0, 24)).sort();
    const ahead = SEGMENT.test(name) && spooled.every((e) => e.slice(0, 8) === name.slice(0, 8) && e > name);
    if (!ahead) await clearSpool(dataDir, repo);
    return false;
  }
  const path = join(dir, file);
  if ((await fileDigest(path))?.sha256 !== file.slice(name.length + 1)) {
    await unlink(path).catch(() => undefined);
    return false;
  }
  try {
    await rename(path, dest);
  } catch {
    return false; // another file system, say: the normal fetch serves it
  }
  // What is older than this segment will not be asked for again.
  for (const e of entries) if (SEGMENT.test(e.slice(0, 24)) && e.slice(0, 24) < name) await unlink(join(dir, e)).catch(() => undefined);
  return true;
}

/** Stops a running prefetcher and removes every spool of this data directory. */
export async function clearSpool(dataDir: string, repo?: string): Promise<void> {
  const root = join(dataDir, 'pg_wal', 'pitr', 'prefetch');
  const dirs = repo ? [prefetchSpool(dataDir, repo)] : (await readdir(root).catch(() => [] as string[])).map((d) => join(root, d));
  for (const dir of dirs) {
    const pid = await livePrefetcher(dir);
    if (pid !== null && pid !== process.pid) {
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
    await rm(dir, { recursive: true, force: true });
  }
}

const LOCK = '.prefetcher.pid';

/**
 * The pid in the lock file when it is a running prefetcher, else null. Checked against
 * /proc: a stale lock file may name a pid the system has since given to another process.
 */
async function livePrefetcher(dir: string): Promise<number | null> {
  const pid = Number(await readFile(join(dir, LOCK), 'utf8').catch(() => ''));
  if (!Number.isInteger(pid) || pid <= 0 || !processAlive(pid)) return null;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes('wal-prefetch') ? pid : null;
}

/**
 * Starts `pitr wal-prefetch <name>` in the background, with this process's options, unless one
 * runs already. Its output goes nowhere: PostgreSQL waits on restore_command's exit only.
 */
export async function startPrefetcher(dataDir: string, repo: string, name: string, argv: string[]): Promise<void> {
  if ((await livePrefetcher(prefetchSpool(dataDir, repo))) !== null) return;
  const at = argv.indexOf('wal-fetch');
  if (at < 0) return;
  const args = [...argv.slice(0, at), 'wal-prefetch', name];
  const child = spawn(process.execPath, [process.argv[1]!, ...args], { detached: true, stdio: 'ignore', cwd: process.cwd() });
  // A failed spawn (no processes left, say) is reported as an event: without a listener it
  // would crash this wal-fetch after it has already restored its file.
  child.on('error', () => undefined);
  child.unref();
}

/** Takes the prefetcher lock (a pid file, created exclusively); false when another live prefetcher holds it. */
export async function lockPrefetcher(dir: string): Promise<boolean> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(join(dir, LOCK), 'wx');
      await fh.writeFile(String(process.pid));
      await fh.close();
      return true;
    } catch {
      if ((await livePrefetcher(dir)) !== null) return false;
      await unlink(join(dir, LOCK)).catch(() => undefined);
    }
  }
  return false;
}

export async function unlockPrefetcher(dir: string): Promise<void> {
  const pid = Number(await readFile(join(dir, LOCK), 'utf8').catch(() => ''));
  if (pid === process.pid) await unlink(join(dir, LOCK)).catch(() => undefined);
}

/** Segments already in the spool (complete ones). */
export async function spooledSegments(dir: string): Promise<Set<string>> {
  const entries = await readdir(dir).catch(() => [] as string[]);
  return new Set(entries.filter((e) => !e.startsWith('.') && !e.endsWith('.tmp')).map((e) => e.slice(0, 24)));
}
