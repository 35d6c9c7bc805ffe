// Whether a process exists, for locks and pid files. EPERM means it exists but belongs to
// another user, which still counts as alive.
import { createHash } from 'node:crypto';
import { readlinkSync } from 'node:fs';
import { hostname } from 'node:os';
import { bootId } from './boot-id.js';

export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let space: string | undefined;

/**
 * The pid space this process lives in, as 12 hex digits: this host, this boot of it, this pid
 * namespace. A pid recorded somewhere shared (a repository on an NFS mount) names a process
 * only to processes of the same space: another host, a container beside this one, this host
 * before a reboot all have their own pids.
 */
export function pidSpace(): string {
  if (space === undefined) {
    let namespace = '';
    try {
      namespace = readlinkSync('/proc/self/ns/pid');
    } catch {
      // no /proc: the hostname and boot id (if any) are all there is
    }
    space = createHash('sha256').update(`${hostname()}\0${bootId()}\0${namespace}`).digest('hex').slice(0, 12);
  }
  return space;
}
