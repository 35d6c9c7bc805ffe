// Records of WAL files stored ahead of PostgreSQL's own archive_command call, so that the
// call returns at once: bin/pitr (the shell launcher) answers it without starting Node.
//
// Where these files live and their formats: launcher/handoff.ts, shared with bin/pitr.
// A record is written only after its file is durably in the repository, and vouches only
// for the same file (identity, see os/file-identity.ts) pushed by a call with the same
// fingerprint (launcher/fingerprint.ts) into the repository the URL holds now: a record answers only
// while the archiver that wrote the stamp above still runs and the stamp names the record's
// repository. The archiver withdraws the stamp the moment it finds the repository replaced
// (it reads its identity again every second while records wait to be taken), and a dead
// archiver's stamp names a process that is gone. Losing one costs a normal push, nothing else.
// Only standard modules are imported: this is the hot path of every archive_command call.
import { mkdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import {
  claimLine,
  claimPath,
  isRecordEntry,
  recordLine,
  recordPath,
  recordsDir,
  stampLine,
  stampPath,
  usedPath,
  type ArchivedRecord,
  type RepositoryStamp,
} from '../launcher/handoff.js';
import { bootId } from '../os/boot-id.js';
import { replaceFile } from '../os/exclusive-temp.js';
import { fileIdentity } from '../os/file-identity.js';
import { takePidFile } from '../os/pid-file.js';
import { lstatQuietly, readdirQuietly, readTextQuietly, unlinkQuietly } from '../os/quiet-fs.js';
import { processAlive } from '../os/process.js';
import { waitUntil } from '../os/wait-until.js';

export type { ArchivedRecord, RepositoryStamp } from '../launcher/handoff.js';

/**
 * Writes the record; returns its mtime, on the file system's clock, which is the one `.used`
 * is stamped with (coarser than Date.now(): comparing across the two could misorder a record
 * and the call it answered within the same tick).
 */
export async function writeRecord(dataDir: string, name: string, record: ArchivedRecord): Promise<number> {
  mkdirSync(recordsDir(dataDir), { recursive: true, mode: 0o700 });
  // Synchronous, like everything the archiver does per file (see storage/file.ts); through
  // an exclusive temporary file (os/exclusive-temp.ts), as every temporary file under pg_wal.
  return replaceFile(recordPath(dataDir, name), recordLine.format(record));
}

export async function readRecord(dataDir: string, name: string): Promise<ArchivedRecord | null> {
  const text = await readFile(recordPath(dataDir, name), 'utf8').catch(() => null);
  return text === null ? null : recordLine.parse(text);
}

/**
 * True when a record says that the file at `path`, as it is now, is stored by a call like this
 * one in the repository the live archiver finds at the URL now: bin/pitr's push_answered, in Node.
 */
export async function recordVouches(dataDir: string, name: string, path: string, fingerprint: string): Promise<boolean> {
  const record = await readRecord(dataDir, name);
  return (
    record !== null &&
    record.fingerprint === fingerprint &&
    record.identity === fileIdentity(path) &&
    stampVouches(readStamp(dataDir), record.repositoryId)
  );
}

/** Whether the stamp is this boot's, its archiver still runs, it names `repositoryId`, and its repository.json is unchanged. */
export function stampVouches(stamp: RepositoryStamp | null, repositoryId: string): boolean {
  if (stamp === null || stamp.repositoryId !== repositoryId || stamp.boot !== bootId()) return false;
  return processStartTime(stamp.pid) === stamp.started && (stamp.file === null || fileIdentity(stamp.file.path) === stamp.file.identity);
}

/** Written once by the archiver, as it starts vouching for the repository; withdrawn by dropStamp. */
export function writeStamp(dataDir: string, stamp: Omit<RepositoryStamp, 'boot' | 'pid' | 'started'>): void {
  replaceFile(stampPath(dataDir), stampLine.format({ ...stamp, boot: bootId(), pid: process.pid, started: processStartTime(process.pid) }));
}

export function readStamp(dataDir: string): RepositoryStamp | null {
  return stampLine.parse(readTextQuietly(stampPath(dataDir)));
}

/** When a process started, in clock ticks since boot (/proc/<pid>/stat, field 22), as bin/pitr reads it; '' when it is gone. */
export function processStartTime(pid: number): string {
  const stat = readTextQuietly(`/proc/${pid}/stat`);
  // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19] ?? '';
}

/** Withdraws the stamp: from now on no record answers. */
export function dropStamp(dataDir: string): void {
  unlinkQuietly(stampPath(dataDir));
}

/** Notes that a record answered PostgreSQL's call (bin/pitr does the same with `: >`). */
export async function markUsed(dataDir: string): Promise<void> {
  replaceFile(usedPath(dataDir), ''); // a new file, never through a planted link
}

/** When a record last answered a call (ms since the epoch; 0: never). */
export function usedAt(dataDir: string): number {
  return lstatQuietly(usedPath(dataDir))?.mtimeMs ?? 0;
}

/** Names with a record. */
export async function recordedNames(dataDir: string): Promise<Set<string>> {
  return new Set(readdirQuietly(recordsDir(dataDir)).filter(isRecordEntry));
}

export async function dropRecord(dataDir: string, name: string): Promise<void> {
  unlinkQuietly(recordPath(dataDir, name));
}

/**
 * Claims `name` for this process (created exclusively). A claim left by a dead process is
 * taken over. False when a live process holds it.
 */
export async function claim(dataDir: string, name: string): Promise<boolean> {
  mkdirSync(recordsDir(dataDir), { recursive: true, mode: 0o700 });
  return takePidFile(claimPath(dataDir, name), claimLine.format(process.pid), async () => !(await claimLive(dataDir, name)));
}

export async function unclaim(dataDir: string, name: string): Promise<void> {
  if (claimLine.parse(readTextQuietly(claimPath(dataDir, name))) === process.pid) unlinkQuietly(claimPath(dataDir, name));
}

/** Whether a live process (not this one) holds the claim on `name`. */
async function claimLive(dataDir: string, name: string): Promise<boolean> {
  const pid = claimLine.parse(await readFile(claimPath(dataDir, name), 'utf8').catch(() => ''));
  return pid !== null && pid > 0 && pid !== process.pid && processAlive(pid);
}

/** While a live process holds the claim on `name`, waits (up to `timeoutMs`) for it to finish. */
export async function awaitClaim(dataDir: string, name: string, timeoutMs: number): Promise<void> {
  await waitUntil(async () => !(await claimLive(dataDir, name)), { timeoutMs, everyMs: 10 });
}
