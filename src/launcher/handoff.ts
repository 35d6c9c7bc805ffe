// The hand-off between bin/pitr (the shell launcher) and the resident workers: every file one
// side writes and the other reads, where it lives, and its one-line format, as typed
// format/parse pairs. bin/pitr reads and writes the same lines with `read -r` and `echo`:
// test/unit/launcher-handoff.test.ts runs its own readers against these writers, and these
// readers against what it writes. docs/archiving.md says what each file vouches for and why.
//
// pg_wal/pitr/ (pg_basebackup never copies pg_wal's contents; PostgreSQL ignores directories there):
//   .fingerprint            bin/pitr's cache of its last fingerprint line and hash (its own)
//   archiver.pid            "<pid> <fingerprint>": the resident archiver
//   archived/<name>         "<fingerprint> <identity> <checksum> <repository id>": <name> is durably
//                           stored in that repository (the checksum is the stored payload's
//                           SHA-256, for the curious)
//   archived/.repository    "<repository id> <boot id> <pid> <start time> <identity> <path>": the
//                           archiver (that process, in this boot: /proc/<pid>/stat's start time)
//                           vouches that the URL holds that repository; for file:// also the
//                           identity and path of its repository.json, which the launcher compares
//                           itself ("- - - - - -" for S3)
//   archived/.claim.<name>  "<pid>": a process is storing <name> right now
//   archived/.used          touched whenever a record answers a call (its mtime is what counts)
//   archived/.wake          the archiver's wake pipe (a FIFO, os/wake-pipe.ts): bin/pitr blocks on it
//   prefetch/<fingerprint>/ one spool per invocation fingerprint:
//     <name>                a verified (checksum, size, cluster) segment or history file
//     <name>.ok             "<identity> <checksum> <boot id>": written after <name>; what may be
//                           handed over, in this boot only (unfsynced files may be damaged by a crash)
//     .<name>.fetching      a download in progress
//     .plan.<name>          the prefetcher will fetch <name>: a call for it waits instead of downloading
//     .wanted               "<name>": the segment recovery took last; the prefetcher keeps the next ones
//     .ask.<name>           "<token>": a call waits for <name>; the prefetcher looks it up now and
//                           answers with <name> + <name>.ok, or with .absent.<name> holding the token
//     .absent.<name>        "<token>": not archived, for the call holding that token
//     .prefetcher.pid       "<pid> <fingerprint>"
//     .off                  prefetching is off in this configuration: bin/pitr starts no prefetcher
//     .wake                 the prefetcher's wake pipe
// <identity> is five fields, "<dev> <ino> <size> <mtime> <ctime>" (os/file-identity.ts, and
// bin/pitr's `stat -c "$IDENTITY"`). Only node:path is imported: this is the hot path.
import { join } from 'node:path';

// ---------------------------------------------------------------- places

export const pitrDir = (dataDir: string) => join(dataDir, 'pg_wal', 'pitr');
export const archiverPidFile = (dataDir: string) => join(pitrDir(dataDir), 'archiver.pid');
export const recordsDir = (dataDir: string) => join(pitrDir(dataDir), 'archived');
export const recordPath = (dataDir: string, name: string) => join(recordsDir(dataDir), name);
export const claimPath = (dataDir: string, name: string) => join(recordsDir(dataDir), `.claim.${name}`);
export const stampPath = (dataDir: string) => join(recordsDir(dataDir), '.repository');
export const usedPath = (dataDir: string) => join(recordsDir(dataDir), '.used');
export const archiverWakePipe = (dataDir: string) => join(recordsDir(dataDir), '.wake');
/** Record names are WAL file names; everything else in archived/ starts with a dot. */
export const isRecordEntry = (entry: string) => !entry.startsWith('.');

export const prefetchRoot = (dataDir: string) => join(pitrDir(dataDir), 'prefetch');
export const spoolDir = (dataDir: string, fingerprint: string) => join(prefetchRoot(dataDir), fingerprint);

/** Entries of a spool directory, by what they are. */
export const spool = {
  okEntry: (name: string) => `${name}.ok`,
  fetchingEntry: (name: string) => `.${name}.fetching`,
  planEntry: (name: string) => `.plan.${name}`,
  askEntry: (name: string) => `.ask.${name}`,
  absentEntry: (name: string) => `.absent.${name}`,
  WANTED: '.wanted',
  PID: '.prefetcher.pid',
  OFF: '.off',
  WAKE: '.wake',
} as const;

export type SpoolEntry =
  { kind: 'file' | 'ok' | 'fetching' | 'plan' | 'ask' | 'absent'; name: string } | { kind: 'control' | 'temporary' | 'other' };

/** What a spool directory entry is, and for which file. */
export function parseSpoolEntry(entry: string): SpoolEntry {
  if (entry.endsWith('.tmp')) return { kind: 'temporary' }; // os/exclusive-temp.ts, while a file is replaced
  if (entry.startsWith('.plan.')) return { kind: 'plan', name: entry.slice('.plan.'.length) };
  if (entry.startsWith('.ask.')) return { kind: 'ask', name: entry.slice('.ask.'.length) };
  if (entry.startsWith('.absent.')) return { kind: 'absent', name: entry.slice('.absent.'.length) };
  if (entry.startsWith('.') && entry.endsWith('.fetching')) return { kind: 'fetching', name: entry.slice(1, -'.fetching'.length) };
  if (entry === spool.WANTED || entry === spool.PID || entry === spool.OFF || entry === spool.WAKE) return { kind: 'control' };
  if (entry.startsWith('.')) return { kind: 'other' };
  if (entry.endsWith('.ok')) return { kind: 'ok', name: entry.slice(0, -'.ok'.length) };
  return { kind: 'file', name: entry };
}

// ---------------------------------------------------------------- lines

/** A format/parse pair: parse(format(x)) is x, and parse gives null for anything else. */
export interface LineFormat<T> {
  format(value: T): string;
  parse(text: string): T | null;
}

const IDENTITY = String.raw`\S+ \S+ \S+ \S+ \S+`;

export interface ArchivedRecord {
  fingerprint: string;
  /** The pushed file's identity when it was stored. */
  identity: string;
  checksum: string;
  /** The repository it was stored in (repository/identity.ts). */
  repositoryId: string;
}

export const recordLine: LineFormat<ArchivedRecord> = {
  format: (r) => `${r.fingerprint} ${r.identity} ${r.checksum} ${r.repositoryId}\n`,
  parse(text) {
    const m = new RegExp(`^(\\S+) (${IDENTITY}) (\\S+) (\\S+)\\n?$`).exec(text);
    return m ? { fingerprint: m[1]!, identity: m[2]!, checksum: m[3]!, repositoryId: m[4]! } : null;
  },
};

/** The live archiver's word on which repository the URL holds. */
export interface RepositoryStamp {
  repositoryId: string;
  boot: string;
  /** The archiver: its pid and start time (field 22 of /proc/<pid>/stat), which a reused pid does not repeat. */
  pid: number;
  started: string;
  /** file:// only: the identity and path of repository.json, which bin/pitr stats itself. */
  file: { identity: string; path: string } | null;
}

const NO_FILE = '- - - - -';

export const stampLine: LineFormat<RepositoryStamp> = {
  format: (s) => `${s.repositoryId} ${s.boot} ${s.pid} ${s.started} ${s.file ? `${s.file.identity} ${s.file.path}` : `${NO_FILE} -`}\n`,
  parse(text) {
    const m = new RegExp(`^(\\S+) (\\S+) (\\d+) (\\d+) (${IDENTITY}) (.+)\\n?$`).exec(text);
    if (!m) return null;
    const file = m[5] === NO_FILE ? null : { identity: m[5]!, path: m[6]! };
    return { repositoryId: m[1]!, boot: m[2]!, pid: Number(m[3]), started: m[4]!, file };
  },
};

/** A resident worker's pid file (archiver.pid, .prefetcher.pid). */
export interface WorkerPid {
  pid: number;
  fingerprint: string;
}

export const workerPidLine: LineFormat<WorkerPid> = {
  format: (w) => `${w.pid} ${w.fingerprint}\n`,
  parse(text) {
    // A pid file of the first prefetcher held the pid alone: it names a live worker all the same.
    const m = /^(\d+)(?: (\S*))?\s*$/.exec(text);
    return m ? { pid: Number(m[1]), fingerprint: m[2] ?? '' } : null;
  },
};

/** archived/.claim.<name>: the storing process. */
export const claimLine: LineFormat<number> = {
  format: (pid) => `${pid}\n`,
  parse: (text) => (/^\s*\d+\s*$/.test(text) ? Number(text.trim()) : null),
};

/** <name>.ok in a spool. */
export interface SpoolVouch {
  identity: string;
  checksum: string;
  boot: string;
}

export const spoolOkLine: LineFormat<SpoolVouch> = {
  format: (v) => `${v.identity} ${v.checksum} ${v.boot}\n`,
  parse(text) {
    const m = new RegExp(`^(${IDENTITY}) (\\S+) (\\S+)\\n?$`).exec(text);
    return m ? { identity: m[1]!, checksum: m[2]!, boot: m[3]! } : null;
  },
};

/**
 * .ask.<name> and .absent.<name>: the asking call's token (bin/pitr's own pid). Only a whole
 * line counts: a token without its newline is still being written.
 */
export const tokenLine: LineFormat<string> = {
  format: (token) => `${token}\n`,
  parse: (text) => (/^\S+\n$/.test(text) ? text.slice(0, -1) : null),
};

/** .wanted: the segment recovery took last (bin/pitr writes it with `echo`). */
export const wantedLine: LineFormat<string> = {
  format: (name) => `${name}\n`,
  parse(text) {
    const name = text.trim();
    return /^[0-9A-F]{24}$/.test(name) ? name : null;
  },
};
