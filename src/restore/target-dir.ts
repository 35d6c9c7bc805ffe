// The directory a restore writes into. Inspected before anything is written (a running
// server or foreign files refuse the restore), prepared only once the plan holds, and
// emptied again if the restore fails, so a half-restored directory is never left to start.
import { constants as fsc } from 'node:fs';
import { access, chown, mkdir, readdir, rm, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { BusyError, InputError } from '../errors.js';
import { lookupUser } from '../os/user-account.js';
import { runningServer } from '../pg/postmaster-pid.js';

export interface Owner {
  uid: number;
  gid: number;
  name?: string;
}

export interface TargetDir {
  path: string;
  existed: boolean;
  /** Who the restored files belong to when pitr runs as root (PostgreSQL refuses root). */
  owner: Owner | null;
}

/** Checks the directory without changing it. */
export async function inspectTargetDir(input: string, force: boolean): Promise<TargetDir> {
  const path = resolve(input);
  const st = await stat(path).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    throw new InputError(`cannot inspect target directory ${path} (${err.code}): check the path and permissions`);
  });
  if (st && !st.isDirectory()) throw new InputError(`target ${path} is not a directory: name a new or empty directory`);
  if (st) {
    const pid = runningServer(path)?.pid;
    if (pid !== undefined) {
      throw new BusyError(
        `a PostgreSQL server (pid ${pid}) is running in ${path}: stop it (pg_ctl -D ${path} stop) or restore into another directory`,
      );
    }
    const entries = await readdir(path);
    if (entries.length > 0 && !force) {
      const sample = entries.slice(0, 3).join(', ');
      throw new InputError(
        `target directory ${path} is not empty (${entries.length} entries: ${sample}${entries.length > 3 ? ', ...' : ''}): restore into a new or empty directory, or pass --force to replace its contents`,
      );
    }
  } else {
    const parent = await stat(dirname(path)).catch(() => null);
    if (!parent?.isDirectory()) throw new InputError(`the parent of target directory ${path} does not exist: create it first`);
  }
  await assertWritable(path, st !== null);
  return { path, existed: st !== null, owner: await ownerFor(path, st?.uid) };
}

/** Refused before the plan: otherwise the first write, after the plan, would fail as an unexpected error. */
async function assertWritable(path: string, exists: boolean): Promise<void> {
  const dir = exists ? path : dirname(path);
  const code = await access(dir, fsc.W_OK | fsc.X_OK).then(
    () => null,
    (err: NodeJS.ErrnoException) => err.code ?? String(err),
  );
  if (code === null) return;
  throw new InputError(
    exists
      ? `target directory ${path} is not writable by this user (${code}): chown it to the user running pitr, or restore into another directory`
      : `cannot create target directory ${path}: its parent ${dir} is not writable by this user (${code}): create ${path} for the user running pitr, or restore under a directory it can write`,
  );
}

/** Creates the directory (mode 0700, as PostgreSQL requires) or empties it under --force. */
export async function prepareTargetDir(dir: TargetDir): Promise<void> {
  if (dir.existed) await emptyDir(dir.path);
  else await mkdir(dir.path, { mode: 0o700 });
  if (dir.owner) await chown(dir.path, dir.owner.uid, dir.owner.gid);
}

/** After a failed restore: nothing half-restored may remain to be started by mistake. */
export async function discardTargetDir(dir: TargetDir): Promise<void> {
  if (dir.existed) await emptyDir(dir.path);
  else await rm(dir.path, { recursive: true, force: true });
}

async function emptyDir(path: string): Promise<void> {
  for (const entry of await readdir(path)) await rm(join(path, entry), { recursive: true, force: true });
}

/**
 * Running as root, the files must belong to the user who will run the server: the owner of
 * the target directory, else of its parent, else the `postgres` account.
 */
async function ownerFor(path: string, existingUid: number | undefined): Promise<Owner | null> {
  if (process.getuid?.() !== 0) return null;
  const candidates = [existingUid !== undefined ? await stat(path) : null, await stat(dirname(path)).catch(() => null)];
  // The user's own primary group, not the directory's: tar and the server run with it.
  for (const st of candidates) if (st && st.uid !== 0) return (await lookupUser(st.uid)) ?? { uid: st.uid, gid: st.gid };
  const postgres = await lookupUser('postgres');
  if (postgres) return postgres;
  throw new InputError(
    `running as root, pitr cannot tell who will own ${path}: chown the directory (or its parent) to the database user first`,
  );
}

/** True when `owner` (or, without one, this process) can read `file`: restore_command runs as the server's user. */
export async function readableBy(file: string, owner: Owner | null): Promise<boolean> {
  if (!owner)
    return access(file, fsc.R_OK).then(
      () => true,
      () => false,
    );
  const st = await stat(file).catch(() => null);
  if (!st) return false;
  if (st.uid === owner.uid) return (st.mode & 0o400) !== 0;
  if (st.gid === owner.gid) return (st.mode & 0o040) !== 0;
  return (st.mode & 0o004) !== 0;
}
