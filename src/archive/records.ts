// Records of WAL files stored ahead of PostgreSQL's own archive_command call, so that the
// call returns at once: bin/pitr (the shell launcher) answers it without starting Node.
//
// pg_wal/pitr/ (pg_basebackup never copies pg_wal's contents; PostgreSQL ignores directories there):
//   archived/<name>         "<fingerprint> <identity> <checksum> <repository id>": <name> is durably
//                           stored in that repository (the checksum is the stored payload's
//                           SHA-256, for the curious)
//   archived/.repository    "<repository id> <boot id> <uptime cs> <identity> <path>": the live
//                           archiver found that repository at the URL at that moment (uptime in
//                           hundredths of a second); for file:// also the identity and path of
//                           its repository.json, which the launcher compares itself
//   archived/.claim.<name>  "<pid>": a process is storing <name> right now
//   archived/.used          touched whenever a record answers a call (its mtime is what counts)
//   archived/.wake          the archiver's wake pipe (a FIFO, os/wake-pipe.ts): bin/pitr blocks on it
//   archiver.pid            "<pid> <fingerprint>": the resident archiver
// A record is written only after its file is durably in the repository, and vouches only
// for the same file (identity, see os/file-identity.ts) pushed by a call with the same
// fingerprint (cli/invocation.ts) into the repository the URL holds now: the live archiver
// checks that every second (the stamp above), and a record answers only while the stamp is
// under STAMP_FRESH_CS old and names the record's repository. So a repository replaced at the
// same URL, or an archiver that died, leaves records that answer nothing. Losing one costs a
// normal push, nothing else. Only standard modules are imported: this is the hot path of every
// archive_command call.
import { mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { bootId } from '../os/boot-id.js';
import { replaceFile } from '../os/exclusive-temp.js';
import { fileIdentity } from '../os/file-identity.js';
import { takePidFile } from '../os/pid-file.js';
import { lstatQuietly, readdirQuietly, readTextQuietly, unlinkQuietly } from '../os/quiet-fs.js';
import { processAlive } from '../os/process.js';

export interface ArchivedRecord {
  fingerprint: string;
  identity: string;
  checksum: string;
  /** The repository it was stored in (repository/identity.ts). */
  repositoryId: string;
}

/** The live archiver's word on which repository the URL holds, and since when. */
export interface RepositoryStamp {
  repositoryId: string;
  boot: string;
  /** When it was checked: /proc/uptime in hundredths of a second (bin/pitr reads the same clock). */
  at: number;
  /** file:// only: the identity and path of repository.json, which bin/pitr stats itself. */
  file: { identity: string; path: string } | null;
}

/** How old a stamp may be for a record to answer: the archiver renews it every STAMP_EVERY_MS. */
export const STAMP_FRESH_CS = 300;
export const STAMP_EVERY_MS = 1000;

export const pitrDir = (dataDir: string) => join(dataDir, 'pg_wal', 'pitr');
export const recordsDir = (dataDir: string) => join(pitrDir(dataDir), 'archived');
/** The archiver's wake pipe (os/wake-pipe.ts); bin/pitr names it too. */
export const wakePipePath = (dataDir: string) => join(recordsDir(dataDir), '.wake');
const claimPath = (dataDir: string, name: string) => join(recordsDir(dataDir), `.claim.${name}`);
const stampPath = (dataDir: string) => join(recordsDir(dataDir), '.repository');

function parseRecord(text: string): ArchivedRecord | null {
  const f = text.trim().split(' ');
  if (f.length !== 8) return null;
  return { fingerprint: f[0]!, identity: f.slice(1, 6).join(' '), checksum: f[6]!, repositoryId: f[7]! };
}

/**
 * Writes the record; returns its mtime, on the file system's clock, which is the one `.used`
 * is stamped with (coarser than Date.now(): comparing across the two could misorder a record
 * and the call it answered within the same tick).
 */
export async function writeRecord(dataDir: string, name: string, record: ArchivedRecord): Promise<number> {
  const dir = recordsDir(dataDir);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  // Synchronous, like everything the archiver does per file (see storage/file.ts); through
  // an exclusive temporary file (os/exclusive-temp.ts), as every temporary file under pg_wal.
  return replaceFile(join(dir, name), `${record.fingerprint} ${record.identity} ${record.checksum} ${record.repositoryId}\n`);
}

export async function readRecord(dataDir: string, name: string): Promise<ArchivedRecord | null> {
  const text = await readFile(join(recordsDir(dataDir), name), 'utf8').catch(() => null);
  return text === null ? null : parseRecord(text);
}

/**
 * True when a record says that the file at `path`, as it is now, is stored by a call like this
 * one in the repository the live archiver finds at the URL now: bin/pitr's push_answered, in Node.
 */
export async function recordVouches(dataDir: string, name: string, path: string, fingerprint: string): Promise<boolean> {
  const record = await readRecord(dataDir, name);
  return record !== null && record.fingerprint === fingerprint && record.identity === fileIdentity(path) && stampVouches(readStamp(dataDir), record.repositoryId);
}

/** Whether the stamp is this boot's, under STAMP_FRESH_CS old, names `repositoryId`, and its repository.json is unchanged. */
export function stampVouches(stamp: RepositoryStamp | null, repositoryId: string): boolean {
  if (stamp === null || stamp.repositoryId !== repositoryId || stamp.boot !== bootId()) return false;
  const age = uptimeCs() - stamp.at;
  return age >= 0 && age < STAMP_FRESH_CS && (stamp.file === null || fileIdentity(stamp.file.path) === stamp.file.identity);
}

/** Written (aside, then renamed) by the archiver after each check of the repository. */
export function writeStamp(dataDir: string, stamp: Omit<RepositoryStamp, 'boot' | 'at'>): void {
  const file = stamp.file ? `${stamp.file.identity} ${stamp.file.path}` : '- - - - - -';
  replaceFile(stampPath(dataDir), `${stamp.repositoryId} ${bootId()} ${uptimeCs()} ${file}\n`);
}

export function readStamp(dataDir: string): RepositoryStamp | null {
  const line = readTextQuietly(stampPath(dataDir)).replace(/\n$/, '');
  const m = /^(\S+) (\S+) (\d+) (\S+ \S+ \S+ \S+ \S+) (.+)$/.exec(line);
  if (!m) return null;
  const file = m[4] === '- - - - -' ? null : { identity: m[4]!, path: m[5]! };
  return { repositoryId: m[1]!, boot: m[2]!, at: Number(m[3]), file };
}

/** Withdraws the stamp: from now on no record answers. */
export function dropStamp(dataDir: string): void {
  unlinkQuietly(stampPath(dataDir));
}

/** Time since boot in hundredths of a second, as bin/pitr reads it (a monotonic clock: steps of the wall clock do not move it). */
export function uptimeCs(): number {
  const [up = '0'] = readTextQuietly('/proc/uptime').split(' ');
  const [whole = '0', frac = '0'] = up.split('.');
  return Number(whole) * 100 + Number(frac.padEnd(2, '0').slice(0, 2));
}

/** Notes that a record answered PostgreSQL's call (bin/pitr does the same with `: >`). */
export async function markUsed(dataDir: string): Promise<void> {
  await writeFile(join(recordsDir(dataDir), '.used'), '');
}

/** When a record last answered a call (ms since the epoch; 0: never). */
export function usedAt(dataDir: string): number {
  return lstatQuietly(join(recordsDir(dataDir), '.used'))?.mtimeMs ?? 0;
}

/** Names with a record. */
export async function recordedNames(dataDir: string): Promise<Set<string>> {
  return new Set(readdirQuietly(recordsDir(dataDir)).filter((e) => !e.startsWith('.')));
}

export async function dropRecord(dataDir: string, name: string): Promise<void> {
  unlinkQuietly(join(recordsDir(dataDir), name));
}

/**
 * Claims `name` for this process (created exclusively). A claim left by a dead process is
 * taken over. False when a live process holds it.
 */
export async function claim(dataDir: string, name: string): Promise<boolean> {
  mkdirSync(recordsDir(dataDir), { recursive: true, mode: 0o700 });
  return takePidFile(claimPath(dataDir, name), `${process.pid}\n`, async () => !(await claimLive(dataDir, name)));
}

export async function unclaim(dataDir: string, name: string): Promise<void> {
  if (Number(readTextQuietly(claimPath(dataDir, name))) === process.pid) unlinkQuietly(claimPath(dataDir, name));
}

/** Whether a live process (not this one) holds the claim on `name`. */
async function claimLive(dataDir: string, name: string): Promise<boolean> {
  const pid = Number(await readFile(claimPath(dataDir, name), 'utf8').catch(() => ''));
  return Number.isInteger(pid) && pid > 0 && pid !== process.pid && processAlive(pid);
}

/** While a live process holds the claim on `name`, waits (up to `timeoutMs`) for it to finish. */
export async function awaitClaim(dataDir: string, name: string, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (performance.now() < deadline && (await claimLive(dataDir, name))) await new Promise((r) => setTimeout(r, 10));
}
