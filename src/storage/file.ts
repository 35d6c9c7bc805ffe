// file:// repository: a local or mounted directory. Every write goes to a temporary name in
// the target directory, is fsynced, then linked (no-overwrite) or renamed into place, and the
// directory is fsynced, so a crash at any point leaves either no object or the whole object.
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  constants as fsc,
  existsSync,
  statSync,
  type Dirent,
  fchownSync,
  fstatSync,
  fsync,
  linkSync,
  openSync,
  readSync,
  renameSync,
  writeSync,
} from 'node:fs';
import { chown, lstat, mkdir, open, readdir, readFile, rename, rmdir, stat, unlink, type FileHandle } from 'node:fs/promises';
import { basename, dirname, join, relative, sep } from 'node:path';
import { Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { AlreadyExistsError, PitrError, StorageError, StorageUnavailableError } from '../errors.js';
import { processAlive, pidSpace } from '../os/process.js';
import { unlinkQuietly } from '../os/quiet-fs.js';
import type { Listing, ObjectHead, ObjectInfo, PutOptions, Storage, SweepResult } from './storage.js';

/** Files stat'ed at once while listing. */
const STATS_AT_ONCE = 64;
/**
 * A directory changed this recently gives no change token: the kernel's file times are
 * coarse, so a second change in the same tick as the one seen would leave them as they were
 * (git's "racy" index entries, the same cure).
 */
const RACY_MS = 2000;

export class FileStorage implements Storage {
  readonly url: string;
  readonly atomicWrites = true;

  private constructor(
    readonly root: string,
    /** The directory's device and inode when opened: another directory there later is not this repository. */
    private readonly rootId: string,
    /** Owner for new files and directories when running as root (see open()). */
    private readonly owner: { uid: number; gid: number } | null,
  ) {
    this.url = `file://${root}/`; // like s3://bucket/prefix/: a key appends directly
  }

  /**
   * Opens the repository directory. It must exist unless `create` is set (pitr init): a
   * missing directory is more often an unmounted volume than a new repository, and writing
   * WAL into the mount point underneath would hide it from every later restore.
   */
  static async open(root: string, create: boolean, newOwner: { uid: number; gid: number } | null = null): Promise<FileStorage> {
    if (create) await FileStorage.create(root, newOwner);
    const st = await stat(root).catch((err: NodeJS.ErrnoException) => {
      // Unavailable rather than refused: most often a volume that is not mounted (yet).
      if (err.code === 'ENOENT') {
        throw new StorageUnavailableError(
          `repository directory ${root} does not exist: mount its volume, create it (or run "pitr init"), or fix PITR_REPO`,
        );
      }
      return fail(err, 'open', root);
    });
    if (!st.isDirectory()) throw new StorageError(`repository path ${root} is not a directory: fix PITR_REPO`);
    // `sudo pitr init` (or any command run as root) must not leave root-owned 0640 files that
    // the postgres user, who runs archive_command, cannot read: new entries take the owner
    // of the repository directory.
    const owner = process.getuid?.() === 0 && st.uid !== 0 ? { uid: st.uid, gid: st.gid } : null;
    return new FileStorage(root, `${st.dev}:${st.ino}`, owner);
  }

  /**
   * Creates the repository directory (pitr init) and any missing parents. Run as root, they
   * must belong to `newOwner`, the user whose server runs archive_command: a root-owned 0750
   * directory is one that user cannot even enter. Without such a user there is no owner to
   * give, and a directory nobody can archive into is refused rather than created.
   */
  private static async create(root: string, newOwner: { uid: number; gid: number } | null): Promise<void> {
    const asRoot = process.getuid?.() === 0;
    if (asRoot && !newOwner && !existsSync(root)) {
      throw new StorageError(
        `running as root, pitr init would create ${root} owned by root, where the server's archive_command cannot write: ` +
          "pass --pgdata (the data directory's owner gets it), or create the directory owned by the database user first",
      );
    }
    const first = await mkdir(root, { recursive: true, mode: 0o750 }).catch((err) => fail(err, 'create', root));
    if (first === undefined || !asRoot || !newOwner) return;
    for (let d = root; ; d = dirname(d)) {
      await chown(d, newOwner.uid, newOwner.gid).catch((err) => fail(err, 'create', d));
      if (d === first) break;
    }
  }

  localPath(key: string): string {
    return this.path(key);
  }

  private path(key: string): string {
    if (key.split('/').some((part) => part === '..' || part === '')) throw new Error(`invalid storage key ${key}`);
    return join(this.root, ...key.split('/'));
  }

  async get(key: string): Promise<Buffer | null> {
    const path = this.path(key);
    try {
      return await readFile(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.absent();
      return fail(err, 'read', path);
    }
  }

  /**
   * A key that is not there, in a repository whose directory still is: a directory renamed
   * away or unmounted while a long-lived process (the prefetcher) holds this store would
   * otherwise read as "nothing archived".
   */
  private absent(): null {
    this.assertRootThere();
    return null;
  }

  /**
   * The repository's directory is still the one opened: not gone, and not another directory
   * put at its path (the bare mount point an unmounted volume leaves). Asked before a key reads
   * as absent, before a write creates directories, and after a write is committed (a volume
   * unmounted during the write must not be reported stored).
   */
  private assertRootThere(): void {
    let id: string | null = null;
    try {
      const st = statSync(this.root);
      id = `${st.dev}:${st.ino}`;
    } catch {
      // gone: below
    }
    if (id !== this.rootId) {
      throw new StorageUnavailableError(
        `repository directory ${this.root} has gone or is another directory now: mount its volume again, or fix PITR_REPO`,
      );
    }
  }

  async getHead(key: string, length: number): Promise<ObjectHead | null> {
    const path = this.path(key);
    // Synchronous: asked once per WAL file in the archiver's hot path (see put).
    let fd: number;
    try {
      fd = openSync(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.absent();
      return fail(err, 'read', path);
    }
    try {
      const buf = Buffer.alloc(length);
      const bytesRead = readSync(fd, buf, 0, length, 0);
      return { bytes: buf.subarray(0, bytesRead), size: fstatSync(fd).size };
    } catch (err) {
      return fail(err, 'read', path);
    } finally {
      closeSync(fd);
    }
  }

  async put(key: string, body: Buffer, options: PutOptions = {}): Promise<void> {
    const path = this.path(key);
    const dir = dirname(path);
    await this.ensureDir(dir);
    const tmp = tempPathFor(path);
    // Synchronous calls, on purpose, except the fsyncs: this is the resident archiver's hot
    // path, and each asynchronous call is a round trip through libuv's thread pool, waking
    // threads that preempt the database's backends. Measured in the archiver under a bulk
    // load, with the segment read synchronously too (archive/push.ts): ~150 futex calls per
    // segment, was ~420. An fsync, though, can wait 200-300 ms on a journal commit behind the
    // database's own writes: on this thread it would stop every other file in flight, while
    // in the pool the files in flight wait on the same commit together.
    let committed = false;
    try {
      const fd = openSync(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o640);
      try {
        if (this.owner) fchownSync(fd, this.owner.uid, this.owner.gid);
        for (let off = 0; off < body.length;) off += writeSync(fd, body, off, body.length - off);
        await fsyncAsync(fd);
      } finally {
        closeSync(fd);
      }
      if (options.noOverwrite) linkNoClobberSync(tmp, path, key);
      else renameSync(tmp, path);
      committed = true;
      await fsyncDir(dir);
      this.assertRootThere();
    } catch (err) {
      if (err instanceof AlreadyExistsError || err instanceof StorageUnavailableError) throw err;
      return fail(err, committed ? 'sync the directory of' : 'write', path);
    } finally {
      unlinkQuietly(tmp); // renamed, or never created
    }
  }

  async putStream(key: string, body: Readable): Promise<void> {
    const path = this.path(key);
    const dir = dirname(path);
    await this.ensureDir(dir);
    const tmp = tempPathFor(path);
    let committed = false;
    try {
      const fh = await open(tmp, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o640);
      try {
        if (this.owner) await fh.chown(this.owner.uid, this.owner.gid);
        const sink = handleSink(fh);
        await pipeline(body, sink);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, path);
      committed = true;
      await fsyncDir(dir);
      this.assertRootThere();
    } catch (err) {
      if (err instanceof PitrError) throw err;
      return fail(err, 'write', path);
    } finally {
      if (!committed) await unlink(tmp).catch(() => undefined);
    }
  }

  async getStream(key: string): Promise<Readable | null> {
    const path = this.path(key);
    try {
      const fh = await open(path, 'r');
      return fh.createReadStream();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return this.absent();
      return fail(err, 'read', path);
    }
  }

  async list(prefix: string, options: { delimiter?: '/' } = {}): Promise<Listing> {
    // Emulates S3 listing semantics: `prefix` may end inside a name ("wal/0000000").
    const cut = prefix.lastIndexOf('/');
    const dirKey = cut < 0 ? '' : prefix.slice(0, cut);
    const namePrefix = prefix.slice(cut + 1);
    const out: Listing = { objects: [], prefixes: [] };
    const walk = async (dir: string, recurse: boolean, filter: string): Promise<void> => {
      const files: { key: string; full: string }[] = [];
      const flush = async () => {
        // Stat'ed STATS_AT_ONCE at a time: one after another, 100,000 files spent most of list idle.
        for (let i = 0; i < files.length; i += STATS_AT_ONCE) {
          const batch = files.slice(i, i + STATS_AT_ONCE);
          const stats = await Promise.all(batch.map((f) => stat(f.full).catch(() => null)));
          for (const [j, st] of stats.entries())
            if (st) out.objects.push({ key: batch[j]!.key, size: st.size, modified: st.mtime } satisfies ObjectInfo);
        }
        files.length = 0;
      };
      for (const entry of (await listDir(dir)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))) {
        // Temporary files of writes in progress (or killed) are not objects.
        if (entry.name.startsWith('.') || !entry.name.startsWith(filter)) continue;
        const full = join(dir, entry.name);
        const key = relative(this.root, full).split(sep).join('/');
        if (entry.isDirectory()) {
          await flush(); // keys stay in order
          if (recurse) await walk(full, true, '');
          else out.prefixes.push(`${key}/`);
        } else if (entry.isFile()) {
          files.push({ key, full });
        }
      }
      await flush();
    };
    await walk(dirKey ? this.path(dirKey) : this.root, options.delimiter === undefined, namePrefix);
    return out;
  }

  async changeToken(prefix: string): Promise<string | null> {
    if (!prefix.endsWith('/')) return null;
    const path = this.path(prefix.slice(0, -1));
    const st = await stat(path, { bigint: true }).catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return null;
      return fail(err, 'read', path);
    });
    if (!st) return 'absent';
    if (Date.now() - Number(st.mtimeMs) < RACY_MS) return null;
    return `${st.ino}:${st.mtimeNs}:${st.ctimeNs}`;
  }

  async delete(key: string): Promise<void> {
    const path = this.path(key);
    await unlink(path).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') return fail(err, 'delete', path);
    });
  }

  /**
   * One unlink each, in order; then the directories two levels down (backups/<id>/,
   * wal/<timeline+log>/) that this left empty, so an expired backup leaves no empty directory
   * under its id. A directory something was written into meanwhile is not empty, and stays.
   */
  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const key of keys) await this.delete(key);
    const dirs = new Set(keys.filter((k) => k.split('/').length === 3).map((k) => dirname(this.path(k))));
    for (const dir of dirs) {
      await rmdir(dir).catch((err: NodeJS.ErrnoException) => {
        if (!['ENOTEMPTY', 'EEXIST', 'ENOENT'].includes(err.code ?? '')) return fail(err, 'remove', dir);
      });
    }
  }

  /**
   * Removes the temporary files of writes that will never finish (see isAbandonedWrite) from
   * the directories under `prefix`; what it removed. Names starting with '.' that are not
   * temporary files of this format stay, whatever their age: they are not pitr's.
   */
  async sweepAbandonedWrites(prefix: string): Promise<SweepResult> {
    const now = Date.now();
    const removed: SweepResult = { files: 0, bytes: 0 };
    const walk = async (dir: string): Promise<void> => {
      for (const entry of await listDir(dir)) {
        const path = join(dir, entry.name);
        if (entry.isDirectory() && !entry.name.startsWith('.')) await walk(path);
        if (!entry.isFile() || !entry.name.startsWith('.')) continue;
        const st = await lstat(path).catch(() => null);
        if (!st?.isFile() || !isAbandonedWrite(entry.name, now - st.mtimeMs)) continue;
        try {
          await unlink(path);
          removed.files++;
          removed.bytes += st.size;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'ENOENT') return fail(err, 'remove', path);
        }
      }
    };
    const key = prefix.replace(/\/+$/, '');
    await walk(key ? this.path(key) : this.root);
    return removed;
  }

  /** mkdir -p, then fsync the parents of every directory it created so the new entries survive a crash. */
  private async ensureDir(dir: string): Promise<void> {
    // Never the repository's own directory: recreating it would write into a bare mount point.
    this.assertRootThere();
    let first: string | undefined;
    try {
      first = await mkdir(dir, { recursive: true, mode: 0o750 });
    } catch (err) {
      return fail(err, 'create', dir);
    }
    if (first === undefined) return;
    for (let d = dir; ; d = dirname(d)) {
      if (this.owner) await chown(d, this.owner.uid, this.owner.gid);
      await fsyncDir(dirname(d));
      if (d === first || d === dirname(d)) break;
    }
  }
}

/**
 * `.<name>.<pid space>.<pid>.<random>.tmp` beside the object: a dot-file, so listings skip
 * it; the writer's pid, and the pid space it means something in (os/process.ts), so that a
 * sweep can tell a killed writer's file from a live one's (isAbandonedWrite).
 */
export function tempPathFor(path: string): string {
  return join(dirname(path), `.${basename(path)}.${pidSpace()}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

const TEMP_NAME = /^\..+\.([0-9a-f]{12})\.(\d+)\.[0-9a-f]{8}\.tmp$/;
/** Written before temporary names carried the pid space: whose pid it is cannot be told. */
const OLD_TEMP_NAME = /^\..+\.\d+\.[0-9a-f]{8}\.tmp$/;
/** A dead writer of this pid space: its file is garbage at once; the minute is a margin for what this reasoning may miss. */
const DEAD_WRITER_MS = 60_000;
/** Any writer: one that lives rewrites its file far more often (a 16 MiB segment takes well under a second). */
const ANY_WRITER_MS = 3_600_000;

/**
 * Whether a temporary file `ageMs` old (since its last write) belongs to a write that will
 * never finish: its writer, of this pid space, is dead and it is over a minute old; or,
 * whoever wrote it, it is over an hour old. The safety argument: a file is renamed or linked
 * into place only by the process that wrote it, so removing a temporary file can never lose
 * an object; removing one under a writer that is still alive (an hour without a write) only
 * makes that write fail cleanly at link/rename (ENOENT), which wal-push reports and
 * PostgreSQL retries, or which fails that one backup, with nothing half-written left visible.
 */
export function isAbandonedWrite(name: string, ageMs: number): boolean {
  const ours = TEMP_NAME.exec(name);
  if (ours && ours[1] === pidSpace() && ageMs > DEAD_WRITER_MS && !processAlive(Number(ours[2]))) return true;
  return (ours !== null || OLD_TEMP_NAME.test(name)) && ageMs > ANY_WRITER_MS;
}

/** A directory's entries; none when it does not exist (nothing stored there yet). */
async function listDir(dir: string): Promise<Dirent[]> {
  try {
    return await readdir(dir, { withFileTypes: true });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    return fail(err, 'list', dir);
  }
}

/** link(2) fails with EEXIST instead of replacing: an atomic "create if absent". */
function linkNoClobberSync(tmp: string, path: string, key: string): void {
  try {
    linkSync(tmp, path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new AlreadyExistsError(key);
    // Filesystems without hard links (some FUSE and SMB mounts): check, then rename.
    if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EOPNOTSUPP' || code === 'ENOSYS') {
      if (existsSync(path)) throw new AlreadyExistsError(key);
      renameSync(tmp, path);
      return;
    }
    throw err;
  }
}

const fsyncAsync = promisify(fsync);

/** fsync(2) of a directory, in the thread pool: it may wait on a journal commit (see put()). */
async function fsyncDir(dir: string): Promise<void> {
  const fh = await open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

function fail(err: unknown, action: string, path: string): never {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      throw new StorageError(
        `permission denied to ${action} ${path}: make the repository readable and writable by the user running pitr (for archive_command, the postgres user)`,
        err,
      );
    case 'ENOSPC':
    case 'EDQUOT':
      throw new StorageError(`no space left to ${action} ${path}: free space on the repository's disk`, err);
    case 'EROFS':
      throw new StorageError(`cannot ${action} ${path}: the repository's filesystem is read-only`, err);
    case 'ENOTDIR':
      throw new StorageError(`cannot ${action} ${path}: a path component is not a directory; fix PITR_REPO`, err);
    case 'ESTALE':
    case 'ENOTCONN':
    case 'EHOSTDOWN':
    case 'ETIMEDOUT':
      // A network file system that went away (NFS, a FUSE mount whose daemon died).
      throw new StorageUnavailableError(
        `cannot ${action} ${path}: the repository's file system is not reachable (${code}); check its mount`,
        err,
      );
    default:
      throw new StorageError(`cannot ${action} ${path}: ${code ?? (err as Error).message}`, err);
  }
}

/**
 * A Writable over an open FileHandle that leaves the handle open (the caller fsyncs, then
 * closes it). fs.WriteStream with autoClose: false never emits 'close', and
 * stream.pipeline waits for 'close', so the pipeline would never settle.
 */
function handleSink(fh: FileHandle): Writable {
  return new Writable({
    write(chunk: Buffer, _enc, done) {
      writeAll(fh, chunk).then(() => done(), done);
    },
  });
}

/** write(2) may write less than asked (a full disk, a signal): loop until all is written. */
async function writeAll(fh: FileHandle, data: Buffer): Promise<void> {
  for (let off = 0; off < data.length;) {
    const { bytesWritten } = await fh.write(data, off, data.length - off);
    off += bytesWritten;
  }
}
