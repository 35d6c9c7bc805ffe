// Temporary files next to paths this process does not own (PostgreSQL's %p, the spool and
// records under pg_wal). A predictable name opened with 'w' follows a symlink planted there:
// wal-fetch run as root would overwrite whatever the link points at, and a file created
// there first would be truncated and written as the planter's. So every temporary file is
// created exclusively (O_CREAT|O_EXCL: fails on any existing entry, a dangling link too),
// never through a link (O_NOFOLLOW, for file systems that bend O_EXCL's rule), with a random
// suffix nobody can plant ahead of, and mode 0600 until it is renamed into place.
import { randomBytes } from 'node:crypto';
import { closeSync, constants as fsc, fstatSync, fsyncSync, openSync, renameSync, writeSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { unlinkQuietly } from './quiet-fs.js';

/** New names tried after EEXIST: 32 random bits each, so a second collision means someone plants names. */
const ATTEMPTS = 4;

/** Creates `<stem>.<8 random hex digits>.tmp` exclusively; its path and open descriptor. */
function createExclusiveTemp(stem: string, mode = 0o600): { path: string; fd: number } {
  for (let attempt = 1; ; attempt++) {
    const path = `${stem}.${randomBytes(4).toString('hex')}.tmp`;
    try {
      return { path, fd: openSync(path, fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL | fsc.O_NOFOLLOW, mode) };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= ATTEMPTS) throw err;
    }
  }
}

/**
 * Puts `data` at `path` through a new exclusive temporary file in the same directory (see
 * createExclusiveTemp; named from `stem`, by default `.<name>.<pid>`; `mode` 0600 unless
 * another process's user must read it), renamed into place. With `durable`, the file is
 * fsynced before the rename and the directory after it, so the new content survives a crash.
 * Returns the file's mtime, on the file system's clock. Nothing is left behind when it fails.
 */
export function replaceFile(
  path: string,
  data: Buffer | string,
  options: { stem?: string; durable?: boolean; mode?: number } = {},
): number {
  const { path: tmp, fd } = createExclusiveTemp(options.stem ?? join(dirname(path), `.${basename(path)}.${process.pid}`), options.mode);
  try {
    try {
      const bytes = typeof data === 'string' ? Buffer.from(data) : data;
      // Synchronous: one write(2) instead of thread-pool round trips (see storage/file.ts).
      for (let off = 0; off < bytes.length;) off += writeSync(fd, bytes, off, bytes.length - off);
      if (options.durable) fsyncSync(fd);
      renameSync(tmp, path);
      if (options.durable) fsyncDirectory(dirname(path));
      return fstatSync(fd).mtimeMs;
    } finally {
      closeSync(fd);
    }
  } catch (err) {
    unlinkQuietly(tmp); // a full disk must not leave the temporary file behind
    throw err;
  }
}

function fsyncDirectory(dir: string): void {
  const fd = openSync(dir, 'r');
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}
