// Streams a stored base backup into a directory: download -> measure -> decompress (frames
// in parallel on the thread pool) -> measure -> untar. Nothing is staged; memory is bounded
// by a few frames. Both measures are checked against the manifest once the stream ends; the
// caller writes the recovery configuration only after that check passes.
import { execa } from 'execa';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar';
import type { BackupFile } from '../backup/manifest.js';
import { Lz4ChunkDecompressor } from '../codec/lz4-stream.js';
import { Measure } from '../codec/measure.js';
import { IntegrityError, NotFoundError, PitrError, StorageError } from '../errors.js';
import type { Storage } from '../storage/storage.js';
import type { Owner } from './target-dir.js';

export async function extractBackup(args: {
  storage: Storage;
  file: BackupFile;
  dir: string;
  owner: Owner | null;
  onProgress?: (bytes: number) => void;
}): Promise<void> {
  const { storage, file, dir, owner } = args;
  const what = `${storage.url}${file.key}`;
  const source = await storage.getStream(file.key);
  if (!source) throw new NotFoundError(`${what} is missing: the backup is damaged; choose another with --backup`);
  const stored = new Measure();
  const raw = new Measure(args.onProgress);
  const decode = file.compression === 'lz4-chunked' ? [new Lz4ChunkDecompressor(what)] : [];
  const untar = tar.x({
    cwd: dir,
    strict: true,
    // The archive's uids are the source host's; the files belong to whoever runs this server.
    preserveOwner: false,
    ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
  });
  try {
    await pipeline([source, stored, ...decode, raw, untar]);
  } catch (err) {
    if (err instanceof PitrError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOSPC') throw new StorageError(`no space left while restoring into ${dir}: free space or restore elsewhere`, err);
    if (e.code && e.code.startsWith('TAR_')) throw new IntegrityError(`${what} is not a valid tar stream (${e.message}): the backup is damaged`, err);
    throw new StorageError(`restoring ${what} into ${dir} failed: ${e.message}`, err);
  }
  if (stored.bytes !== file.storedSize || stored.digest() !== file.storedSha256) {
    throw new IntegrityError(`${what} does not match its manifest (${stored.bytes} bytes read, ${file.storedSize} recorded, or the SHA-256 differs): the stored backup is damaged`);
  }
  if (raw.bytes !== file.size || raw.digest() !== file.sha256) {
    throw new IntegrityError(`${what} decompressed to different bytes than were backed up: the stored backup is damaged`);
  }
  await syncTree(dir);
}

/**
 * Makes the restored files durable before they are reported restored. syncfs(2) through
 * `sync -f` flushes the whole file system in one call instead of an fsync per file.
 */
async function syncTree(dir: string): Promise<void> {
  const res = await execa('sync', ['-f', dir], { reject: false });
  if (res.exitCode !== 0) await execa('sync', [], { reject: false });
}
