// The resident archiver (`pitr wal-archive-ahead`). PostgreSQL runs archive_command once per
// file, one at a time; a process per 16 MiB segment pays Node's start-up and the store's
// set-up every time and cannot keep up with a busy server. So a wal-push that had to do its
// own work starts this worker, which follows pg_wal/archive_status (inotify, plus a poll),
// stores each .ready file in PostgreSQL's order, a few at a time, and writes a record once a
// file is durably stored (records.ts). PostgreSQL's own call then finds the record and
// returns at once, answered by bin/pitr without starting Node.
//
// The durability contract is unchanged: a record is written only after its file is stored,
// nothing here touches archive_status (PostgreSQL still calls for every file and marks it
// .done itself), and a worker that dies only costs normal pushes later. It keeps at most
// `lookahead` files ahead (records not yet taken plus files in flight), reads the
// repository once per run, exits after `idleMs` with nothing to do, when the server or its
// pg_wal is gone, when its records go unused (another configuration archives now), and at
// its first failure, which PostgreSQL's next call then meets and reports. Chosen over
// pgBackRest's async spool and WAL-G's renaming of .ready files: see docs/archiving.md.
//
// It follows the world it started in, or stops. Its records answer only while it runs and
// its stamp names their repository (records.ts); it reads the repository's identity again
// every second while records wait to be taken, checks before each file that PostgreSQL's next
// call would still be configured as the call that started it (flags, environment, config and
// AWS files: launcher/fingerprint.ts), and on a replaced repository or any change of configuration
// withdraws the stamp at once (no record answers after that) and ends the run; the next call
// reaches Node and follows the new world.
import { existsSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import { BufferPool } from '../os/buffer-pool.js';
import { readdirQuietly } from '../os/quiet-fs.js';
import { IDENTITY_KEY } from '../repository/layout.js';
import { readIdentity, type RepositoryIdentity } from '../repository/identity.js';
import { StorageUnavailableError } from '../errors.js';
import { fileIdentity } from '../os/file-identity.js';
import { sweepAbandonedWrites } from '../storage/sweep.js';
import { parseWalFileName } from '../wal/names.js';
import { archiverPidFile, archiverWakePipe, recordsDir } from '../launcher/handoff.js';
import { rememberArchivedInto } from './archived-into.js';
import { pushWalFile, type PushOptions } from './push.js';
import { claim, dropRecord, dropStamp, recordedNames, unclaim, usedAt, writeRecord, writeStamp } from './records.js';
import { runResident } from './resident-worker.js';

export const ARCHIVER_COMMAND = 'wal-archive-ahead';
/** Set by the agent that starts an archiver (agent/archiver-warmth.ts): its pid. Not a setting: it changes nothing stored, so it stays out of the fingerprint. */
export const WARM_FOR_AGENT_ENV = 'PITR_WARM_FOR_AGENT';

/** Records of this many files in a row done without being used: the archiver is not wanted. */
const UNUSED_LIMIT = 4;
/** How often the repository's identity is read again while records wait to be taken, and otherwise. */
const CHECK_EVERY_MS = 1000;
const IDLE_CHECK_EVERY_MS = 10_000;

export interface ArchiverOptions extends PushOptions {
  fingerprint: string;
  /** Whether PostgreSQL's next call would still be configured as the one that started this run (launcher/fingerprint.ts). */
  stillConfigured: () => boolean;
  /** Most files ahead of PostgreSQL: records not yet taken plus files in flight. */
  lookahead: number;
  /** Files stored at once. */
  concurrency: number;
  idleMs: number;
  stayWhile?: () => boolean;
  log: Logger;
}

/** Runs until idle, gone, replaced or failed; resolves with the number of files stored. */
export async function runArchiver(o: ArchiverOptions): Promise<number> {
  const walDir = join(o.dataDir, 'pg_wal');
  const statusDir = join(walDir, 'archive_status');
  /** Why this run stops early: the world it started in has changed. */
  let changed: string | null = null;
  let stored = 0;
  /** This run's records (name -> mtime), and how many in a row went unused. */
  const mine = new Map<string, number>();
  let unused = 0;
  // Set by start():
  let repository: RepositoryIdentity | undefined;
  let opts: ArchiverOptions & { repository?: RepositoryIdentity; pool: BufferPool };
  let stamp: ReturnType<typeof repositoryStamp>;
  let sweeping: Promise<unknown> = Promise.resolve();
  let lastCheck = performance.now();
  let lastConfigured = performance.now();
  let checking: Promise<void> | null = null;
  const configured = () => {
    lastConfigured = performance.now();
    if (!o.stillConfigured()) changed ??= 'the configuration changed (flags, environment, config or AWS files)';
    return changed === null;
  };

  await runResident(
    {
      command: ARCHIVER_COMMAND,
      pidFile: archiverPidFile(o.dataDir),
      fingerprint: o.fingerprint,
      dataDir: o.dataDir,
      // PostgreSQL's .ready and .done files are the only news: records and claims change by
      // this process's own hand, and watching them would wake it several times per file.
      watchDir: statusDir,
      wakePipe: archiverWakePipe(o.dataDir),
      idleMs: o.idleMs,
      stayWhile: o.stayWhile,
    },
    {
      async start() {
        await mkdir(recordsDir(o.dataDir), { recursive: true, mode: 0o700 });
        // Every record left before this run goes first, whoever wrote it: a record says its file
        // was stored in a copy of the repository that this run never saw (a copy keeps the id).
        for (const name of await recordedNames(o.dataDir)) await dropRecord(o.dataDir, name);
        // file://: repository.json's identity, the same before and after it is read, or the
        // identity read is not the one the launcher will compare (a volume unmounted meanwhile).
        const path = o.storage.localPath?.(IDENTITY_KEY) ?? null;
        const before = path === null ? null : fileIdentity(path);
        repository = (await readIdentity(o.storage)) ?? undefined;
        if (repository && path !== null && (before === null || fileIdentity(path) !== before)) {
          throw new StorageUnavailableError(
            `${path} changed or went away while the archiver read it: is the repository volume being mounted or unmounted?`,
          );
        }
        // Read once per run, then checked (see CHECK_EVERY_MS); each file in flight holds its
        // read and its compressed copy, and when encrypting its sealed copy too.
        opts = { ...o, repository, pool: new BufferPool((o.recipients ? 3 : 2) * o.concurrency) };
        stamp = repositoryStamp(o, repository, path, before);
        if (repository) {
          stamp.write();
          // Written once per run, not per file (archived-into.ts); failing it must not stop archiving.
          try {
            rememberArchivedInto(o.dataDir, { id: repository.id, url: o.storage.url });
          } catch (err) {
            o.log.warn({ err: (err as Error).message }, 'cannot note the repository in the data directory (pitr.repositories)');
          }
        }
        // Temporary files of killed pushes: beside the work, not before it; it never fails, and
        // it is awaited at the end only so that the exit does not cut it short.
        sweeping = sweepAbandonedWrites(o.storage, 'wal/', o.log);
        return true;
      },

      async turn(r) {
        // While records wait to be taken (or files are being stored), the repository is read
        // again every second: a record of a replaced repository must stop answering. With none
        // waiting, nothing can answer wrongly, and a rare check only ends an unwanted run. The
        // configuration likewise: bin/pitr checks it at every call itself, so this only ends a
        // run that is no longer wanted (and, before each batch below, keeps it from storing the
        // old way).
        if (changed !== null) return 'stop';
        const waiting = mine.size > 0 || r.inflight.size > 0;
        const every = waiting ? CHECK_EVERY_MS : IDLE_CHECK_EVERY_MS;
        if (performance.now() - lastConfigured >= every && !configured()) return 'stop';
        if (repository && checking === null && performance.now() - lastCheck >= every) {
          lastCheck = performance.now();
          checking = stamp
            .check()
            .then((why) => {
              if (why === null) return;
              dropStamp(o.dataDir); // at once: records stop answering now, not when the loop comes round
              changed ??= why;
            })
            .catch((err: unknown) => r.fail(err))
            .finally(() => {
              checking = null;
              r.wake();
            });
        }
        const ready = await readyFiles(statusDir);
        const recorded = await recordedNames(o.dataDir);
        // A record whose file PostgreSQL has marked done (or removed) has served its purpose.
        // Done while this archiver's record went unused: PostgreSQL archives with another
        // configuration now (a new repository, or a second pitr call in archive_command).
        const used = usedAt(o.dataDir);
        for (const name of recorded) {
          if (ready.includes(name)) continue;
          await dropRecord(o.dataDir, name);
          const written = mine.get(name);
          if (written === undefined) continue;
          mine.delete(name);
          unused = used >= written ? 0 : unused + 1;
        }
        if (unused >= UNUSED_LIMIT) {
          o.log.info({ unused }, 'records going unused: another configuration archives now; stopping');
          return 'stop';
        }
        const ahead = ready.filter((n) => recorded.has(n)).length + r.inflight.size;
        // A .ready whose file is gone is PostgreSQL's to clear: it is no work, and no reason to stay.
        const todo = ready.filter((n) => !recorded.has(n) && !r.inflight.has(n) && existsSync(join(walDir, n)));
        const room = Math.min(o.lookahead - ahead, o.concurrency - r.inflight.size);
        const batch = todo.slice(0, Math.max(0, room));
        if (batch.length > 0 && !configured()) return 'stop';
        for (const name of batch) {
          if (repository && !stamp.stillHere()) {
            changed = `repository.json of ${o.storage.url} changed or went away`;
            return 'stop';
          }
          if (!(await claim(o.dataDir, name))) continue;
          // A record is written only while the world is still the one this run started in.
          const current = () => changed === null && o.stillConfigured() && stamp.stillHere();
          r.track(
            name,
            storeOne(name, opts, current)
              .then((recordedAt) => {
                stored++;
                if (recordedAt !== null) mine.set(name, recordedAt);
              })
              .finally(() => unclaim(o.dataDir, name)),
          );
        }
        if (r.inflight.size === 0 && todo.length === 0) return 'idle';
        r.active();
        return 'busy';
      },

      async finish() {
        if (changed !== null) {
          // First of all: from now on no record answers (bin/pitr needs the stamp).
          dropStamp(o.dataDir);
          o.log.info({ why: changed }, 'the world this archiver started in has changed; stopping (the next call follows the new one)');
        }
        await checking;
        await sweeping;
      },

      cleanup: () => dropStamp(o.dataDir),
    },
  );
  return stored;
}

/**
 * The stamp that lets records answer while this process runs (records.ts), written once.
 * check() resolves with why the run must stop (a replaced or removed repository), or null
 * when all is as it was; the caller then withdraws the stamp.
 */
function repositoryStamp(o: ArchiverOptions, repository: RepositoryIdentity | undefined, path: string | null, initial: string | null) {
  // file:// (`path`): bin/pitr compares repository.json's identity itself, so a repository
  // swapped under the same path is noticed at the next call, not at the next check.
  const stillHere = () => path === null || fileIdentity(path) === initial;
  const write = () =>
    writeStamp(o.dataDir, { repositoryId: repository!.id, file: path !== null && initial !== null ? { identity: initial, path } : null });
  return {
    write,
    /**
     * file://: repository.json is the one this run read (a stat). Asked before each file, so
     * that a volume unmounted under the archiver does not take files into its bare mount
     * point until the next check.
     */
    stillHere,
    async check(): Promise<string | null> {
      const gone = `repository.json of ${o.storage.url} changed or went away`;
      // file://: any change of repository.json is a changed repository; a stat tells (and bin/pitr makes the same one).
      if (path !== null) return stillHere() ? null : gone;
      const now = await readIdentity(o.storage);
      if (now === null) return gone;
      if (now.id !== repository!.id) return `repository ${o.storage.url} was replaced (id ${repository!.id} is now ${now.id})`;
      // Recipients changed (pitr init --change-recipients): the next run checks pushes against the new ones.
      const recipients = (r: RepositoryIdentity) => r.encryption?.recipients.join(' ') ?? '';
      return recipients(now) === recipients(repository!) ? null : `the recipients repository ${o.storage.url} records changed`;
    },
  };
}

/** Stores one file; the record's mtime, or null when the file or the world changed meanwhile and no record was made. */
async function storeOne(name: string, o: ArchiverOptions, current: () => boolean): Promise<number | null> {
  const res = await pushWalFile(join(o.dataDir, 'pg_wal', name), { ...o, identity: true });
  o.log.debug({ wal: name, status: res.status }, 'archived ahead of PostgreSQL');
  if (!res.identity || !current()) return null;
  return writeRecord(o.dataDir, name, {
    fingerprint: o.fingerprint,
    identity: res.identity,
    checksum: res.payloadSha256,
    repositoryId: res.repositoryId,
  });
}

/** Files PostgreSQL has marked ready, in the order it archives them: history files first, then by name. */
async function readyFiles(statusDir: string): Promise<string[]> {
  return readdirQuietly(statusDir)
    .filter((f) => f.endsWith('.ready'))
    .map((f) => f.slice(0, -'.ready'.length))
    .filter((n) => parseWalFileName(n) !== null)
    .sort((a, b) => Number(b.endsWith('.history')) - Number(a.endsWith('.history')) || (a < b ? -1 : 1));
}
