// What a cluster remembers of the repositories it has archived into: $PGDATA/pitr.repositories,
// one line "<repository id> <url>" each. It exists so that a push never binds an empty
// repository silently once this cluster has archived before: an unmounted volume leaves a bare
// mount-point directory at the repository's path, and WAL written there is hidden from every
// restore once the volume is back (a gap nobody sees until it is needed). Binding a new
// repository is then `pitr init`'s job, asked for by name.
//
// It lives in the data directory's root, not in pg_wal/pitr, on purpose: pg_basebackup copies
// it, so a standby or a restored copy of this cluster knows it too. Written with fsync, once
// per repository: losing it in a crash would reopen the hole it closes.
import { join } from 'node:path';
import { RepositoryMismatchError } from '../errors.js';
import { replaceFile } from '../os/exclusive-temp.js';
import { readTextQuietly } from '../os/quiet-fs.js';
import { isDataDir } from '../pg/control-file.js';

export const ARCHIVED_INTO_FILE = 'pitr.repositories';

export interface ArchivedInto {
  id: string;
  url: string;
}

/** The repositories this data directory has archived into; none outside a data directory. */
export function archivedInto(dataDir: string): ArchivedInto[] {
  return readTextQuietly(join(dataDir, ARCHIVED_INTO_FILE))
    .split('\n')
    .filter((line) => line !== '' && !line.startsWith('#'))
    .map((line) => ({ id: line.split(' ')[0]!, url: line.slice(line.indexOf(' ') + 1) }));
}

/** Ids already written by this process: the archiver pushes many files into one repository. */
const remembered = new Set<string>();

/** Adds the repository to the data directory's list (a data directory only; once per process and repository). */
export function rememberArchivedInto(dataDir: string, repo: ArchivedInto): void {
  const key = `${dataDir}\0${repo.id}`;
  if (remembered.has(key) || !isDataDir(dataDir)) return;
  const known = archivedInto(dataDir);
  if (!known.some((r) => r.id === repo.id)) {
    const header =
      '# pitr: repositories this cluster has archived into (docs/archiving.md). A push never binds an empty repository while this file names one.\n';
    const text = header + [...known, repo].map((r) => `${r.id} ${r.url}\n`).join('');
    // Readable by all: root may run a push by hand in the data directory, and the postgres
    // user must still read what it wrote (ids and URLs, no secrets).
    replaceFile(join(dataDir, ARCHIVED_INTO_FILE), text, { durable: true, mode: 0o644 });
  }
  remembered.add(key);
}

/** Refuses to bind the empty repository at `url` when this data directory has archived elsewhere before. */
export function assertMayBind(dataDir: string, url: string): void {
  const before = archivedInto(dataDir);
  if (before.length === 0) return;
  const where = before.map((r) => `${r.url} (id ${r.id})`).join(', ');
  throw new RepositoryMismatchError(
    `repository ${url} is empty, but this cluster has archived into ${where} before (${join(dataDir, ARCHIVED_INTO_FILE)}): ` +
      'if the repository volume is not mounted or the bucket is not the right one, fix that and PostgreSQL will retry; ' +
      'to start a new repository there, run "pitr init" first',
  );
}
