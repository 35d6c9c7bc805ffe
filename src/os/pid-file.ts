// A pid file created exclusively, so that one process at a time holds what it stands for (a
// worker's place, a claim on a WAL file). One left by a process that died is taken over.
import { closeSync, openSync, writeSync } from 'node:fs';
import { unlinkQuietly } from './quiet-fs.js';

/**
 * Creates `path` holding `text`; true when this process now holds it. An existing file is
 * removed and the creation tried again when `stale()` says its holder is gone; otherwise false.
 */
export async function takePidFile(path: string, text: string, stale: () => Promise<boolean>, attempts = 2): Promise<boolean> {
  for (let attempt = 0; attempt < attempts; attempt++) {
    // Synchronous: claims are taken once per WAL file in the archiver's hot path (see
    // storage/file.ts on thread-pool round trips).
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o600);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      if (!(await stale())) return false;
      unlinkQuietly(path);
      continue;
    }
    try {
      writeSync(fd, text);
    } catch (err) {
      unlinkQuietly(path); // a full disk must not leave an empty pid file that names nobody
      throw err;
    } finally {
      closeSync(fd);
    }
    return true;
  }
  return false;
}
