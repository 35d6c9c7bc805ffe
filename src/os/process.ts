// Whether a process exists, for locks and pid files. EPERM means it exists but belongs to
// another user, which still counts as alive.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The postmaster's pid when a server runs in `dataDir` (postmaster.pid names a live process), else null. */
export async function runningPostmaster(dataDir: string): Promise<number | null> {
  const text = await readFile(join(dataDir, 'postmaster.pid'), 'utf8').catch(() => null);
  const pid = text ? Number(text.split('\n')[0]) : NaN;
  return Number.isInteger(pid) && pid > 0 && processAlive(pid) ? pid : null;
}
