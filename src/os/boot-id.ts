// This boot of the machine, from /proc/sys/kernel/random/boot_id. What is only in the page
// cache (written, not fsynced) is intact until the machine goes down, so a file vouched for
// with this boot's id needs no fsync: after a crash the id differs and the file is not taken.
import { readFileSync } from 'node:fs';

/** The boot id, or '-' where the system has none (then nothing may rely on it). */
export function bootId(): string {
  try {
    return readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim() || '-';
  } catch {
    return '-';
  }
}
