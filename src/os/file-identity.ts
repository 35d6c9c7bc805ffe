// A file's identity: device, inode, size, and mtime and ctime to the nanosecond, in the text
// `stat -c '%d %i %s %.9Y %.9Z'` prints, so the shell launcher can compare it without Node.
//
// Why this can stand in for re-reading the file: another file put under the same name has
// another inode (or, renamed there, a new ctime); the same file written to gets a new ctime,
// which no system call can set back. The one gap is a write in the same clock tick as the
// file's last change (the kernel stamps files with a coarse clock, 1-10 ms): identities
// taken through stableIdentity() start only once the file has been still for longer than
// that, the rule git uses for its index.
import { statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

export function fileIdentity(path: string): string | null {
  try {
    const s = statSync(path, { bigint: true });
    return `${s.dev} ${s.ino} ${s.size} ${stamp(s.mtimeNs)} ${stamp(s.ctimeNs)}`;
  } catch {
    return null;
  }
}

const stamp = (ns: bigint) => `${ns / 1_000_000_000n}.${String(ns % 1_000_000_000n).padStart(9, '0')}`;

/** Longer than any kernel's timestamp tick (10 ms at HZ=100, the coarsest). */
const STILL_NS = 15_000_000n;

/**
 * The identity of `path` once its last change is older than one timestamp tick, so that any
 * later write is bound to change it. Null when the file cannot be stat'ed, or is still
 * changing after two ticks (then nothing may vouch for it: the caller records nothing).
 *
 * The change time is the ctime alone: the mtime can be set to anything (`touch -d`, a copied
 * file's preserved time), and a future one would have held this call until that time came. A
 * ctime ahead of the clock by more than a tick (the clock was stepped back) cannot be met by
 * a write now, which stamps the earlier current time: it is taken at once. So the wait is
 * bounded by two ticks, whatever the clocks say.
 */
export async function stableIdentity(path: string): Promise<string | null> {
  for (let waits = 0; ; waits++) {
    let s;
    try {
      s = statSync(path, { bigint: true });
    } catch {
      return null;
    }
    const age = BigInt(Date.now()) * 1_000_000n - s.ctimeNs;
    if (age >= STILL_NS || age < -STILL_NS) return fileIdentity(path);
    if (waits === 2) return null;
    await sleep(Number((STILL_NS - age) / 1_000_000n) + 1);
  }
}
