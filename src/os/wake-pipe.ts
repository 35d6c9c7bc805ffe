// A worker's wake pipe: a FIFO that bin/pitr blocks on while it waits for a resident worker
// (the archiver storing the file PostgreSQL asks for, the prefetcher downloading it), instead
// of running a `sleep` process every 10-20 ms. Under a bulk load PostgreSQL's archiver waits
// that way for most segments, ~2 sleeps each, and every sleep came up to 20 ms late.
//
// The worker holds the write end only, for as long as it runs, and writes a line after each
// file it finishes and at least every 250 ms (a timer), so a waiting caller looks again at
// once, and still sees its time limits while the worker is busy elsewhere. When the
// worker exits the kernel closes the write end and a blocked caller reads end-of-file: it
// never waits on a worker that is gone. A caller opens the pipe before it looks for its
// file, so a line written after that look reaches it (bin/pitr: `news`).
//
// Writes never block: no reader (EPIPE) or a full pipe (EAGAIN) just means nobody is waiting
// to read that line. Creating the FIFO costs a process (Node has no mkfifo), once per worker.
import { spawnSync } from 'node:child_process';
import { closeSync, constants, fstatSync, openSync, writeSync } from 'node:fs';
import { lstatQuietly, unlinkQuietly } from './quiet-fs.js';

export interface WakePipe {
  /** Tells whoever waits that something changed. */
  wake: (line?: string) => void;
  close: () => void;
}

const NONE: WakePipe = { wake: () => undefined, close: () => undefined };

/** The longest a waiting caller goes without a line while the worker runs. */
export const WAKE_TICK_MS = 250;

/** Opens (creating if need be) the FIFO at `path` for writing; a no-op pipe when that fails. */
export function openWakePipe(path: string): WakePipe {
  let fd: number;
  try {
    let stat = lstatQuietly(path);
    if (stat !== null && !stat.isFIFO()) {
      unlinkQuietly(path);
      stat = null;
    }
    if (stat === null && spawnSync('mkfifo', ['-m', '600', '--', path], { stdio: 'ignore' }).status !== 0) return NONE;
    // Opening the write end alone fails (ENXIO) while nobody reads: open a read end first,
    // then drop it, so that this process is never a reader of its own lines.
    const reader = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      fd = openSync(path, constants.O_WRONLY | constants.O_NONBLOCK);
    } finally {
      closeSync(reader);
    }
    if (!fstatSync(fd).isFIFO()) {
      closeSync(fd);
      return NONE;
    }
  } catch {
    return NONE; // callers poll, as without a pipe
  }
  let open = true;
  const wake = (line = '') => {
    if (!open) return;
    try {
      writeSync(fd, `${line}\n`);
    } catch {
      // EPIPE: nobody waits; EAGAIN: the waiting caller has lines unread already
    }
  };
  // The tick: a caller blocked while the worker is busy elsewhere (or still connecting to the
  // store) still checks its time limits.
  const ticker = setInterval(wake, WAKE_TICK_MS);
  ticker.unref();
  return {
    wake,
    close: () => {
      clearInterval(ticker);
      if (open) closeSync(fd);
      open = false;
    },
  };
}
