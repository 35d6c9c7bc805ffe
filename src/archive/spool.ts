// Records of WAL files that a look-ahead push stored durably, so that PostgreSQL's own later
// archive_command call for that file returns at once, without loading the storage driver.
//
// A record holds the SHA-256 and size of the bytes that were stored and the repository they
// went to. The later call re-reads the file and compares: a different file under the same
// name, or a record made for another repository, is never taken as archived; the call then
// pushes normally (and the repository's own no-overwrite check decides). Records live in
// pg_wal/pitr/archived/, next to the files they describe: pg_basebackup never copies pg_wal,
// and PostgreSQL ignores directories there. Only standard modules are imported: this is the
// hot path of every archive_command call.
import { mkdir, readdir, readFile, rename, unlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { sha256 } from '../codec/object-format.js';

export interface ArchivedRecord {
  sha256: string;
  size: number;
  repo: string;
}

export const archivedSpool = (dataDir: string) => join(dataDir, 'pg_wal', 'pitr', 'archived');

/** Written only after the file is durably in the repository. Losing one costs a re-push, nothing else. */
export async function recordArchived(dataDir: string, name: string, record: ArchivedRecord): Promise<void> {
  const dir = archivedSpool(dataDir);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const tmp = join(dir, `.${name}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(record));
  await rename(tmp, join(dir, name));
}

/** True when a record says this exact file is stored in `repo`; the record is then removed. */
export async function consumeRecord(dataDir: string, path: string, repo: string): Promise<boolean> {
  const recordPath = join(archivedSpool(dataDir), basename(path));
  const raw = await readFile(recordPath, 'utf8').catch(() => null);
  if (raw === null) return false;
  let record: ArchivedRecord;
  try {
    record = JSON.parse(raw) as ArchivedRecord;
  } catch {
    return false;
  }
  if (record.repo !== repo) return false;
  const actual = await fileDigest(path);
  if (!actual || actual.size !== record.size || actual.sha256 !== record.sha256) return false;
  await unlink(recordPath).catch(() => undefined);
  return true;
}

/** Names with a record, for skipping them in the next look-ahead. */
export async function recordedNames(dataDir: string): Promise<Set<string>> {
  const entries = await readdir(archivedSpool(dataDir)).catch(() => [] as string[]);
  return new Set(entries.filter((e) => !e.startsWith('.')));
}

/** Drops records whose WAL file PostgreSQL has already removed or recycled. */
export async function sweepRecords(dataDir: string, live: Set<string>): Promise<void> {
  for (const name of await recordedNames(dataDir)) {
    if (!live.has(name)) await unlink(join(archivedSpool(dataDir), name)).catch(() => undefined);
  }
}

/** Size and SHA-256 of a local file, or null when it cannot be read. */
export async function fileDigest(path: string): Promise<{ size: number; sha256: string } | null> {
  const data = await readFile(path).catch(() => null);
  return data ? { size: data.length, sha256: sha256(data) } : null;
}
