// A standby's restore_command while the repository cannot be reached. The rule: every "not
// found" wal-fetch gives is the store's own answer, unless PostgreSQL has somewhere else to go
// and nothing makes that answer end recovery. Otherwise it waits, inside restore_command,
// until the store answers.
//
// Why waiting: PostgreSQL ends a standby's recovery on the first "not found" after a promotion
// was asked for (src/pg/standby.ts). Reading an outage as "not found" (pitr before, and what
// a restore_command that exits 1 on any error does) let a standby promoted during an outage
// come up read-write with a fraction of the archived WAL. Exiting above 125 instead makes
// PostgreSQL stop the standby, which a `cp` restore_command never does for a missing share.
// Waiting does neither: the startup process stays in restore_command (hot standby queries go
// on; a shutdown still works, since PostgreSQL's startup process exits at once on SIGTERM
// while restore_command runs, and this process leaves as soon as the server is gone), and a
// promotion asked for meanwhile happens once the store answers, with every archived segment.
//
// Answered "not found" without waiting:
//   - a standby that streams from a primary (primary_conninfo set) while no promotion is
//     pending: PostgreSQL goes on to streaming, so an archive outage does not stop replication;
//   - after `pitr promote --without-archive`, the operator's explicit choice to promote with
//     the WAL the standby has (RELEASE_FILE, valid for this run of the server only);
//   - when no server runs in the data directory (a call by hand, or a server that stopped
//     while the call waited): nothing can end recovery on that answer;
//   - when pg_wal already holds the file and no promotion is pending: PostgreSQL reads that
//     copy next, and its recovery goes on (a restarted standby reaches consistency from what
//     it kept);
//   - a timeline history file while no promotion is pending: a standby probes for newer
//     timelines at start and after every failed read, so it finds a missed one later.
// What restore_command cannot see: a promotion PostgreSQL has already taken (it deletes the
// `promote` file when it acts on it). A streaming standby promoted while it waited on its
// primary, during an archive outage, ends recovery with what it streamed, as any streaming
// failover does, and may pick a timeline the unreachable archive already holds; its first
// archived history file is then refused (exit 4), loudly. docs/archiving.md has the details.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { StorageUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { replaceFile } from '../os/exclusive-temp.js';
import { readTextQuietly } from '../os/quiet-fs.js';
import { promotionPending, serverRun, streamsFromPrimary } from '../pg/standby.js';

/** Written by `pitr promote --without-archive`: "<postmaster pid> <start time>" of the run it releases. */
export const RELEASE_FILE = 'pitr.promote-without-archive';

/** How often a waiting call says so in PostgreSQL's log (and whenever its reason changes). */
const REMIND_EVERY_MS = 60_000;

export interface OutageVerdict {
  wait: boolean;
  why: string;
}

export function outageVerdict(dataDir: string, name: string): OutageVerdict {
  // A call by hand, or one whose server has gone meanwhile: no recovery waits on the answer.
  if (serverRun(dataDir) === null) return { wait: false, why: 'no server runs in this data directory' };
  if (released(dataDir))
    return { wait: false, why: 'released by "pitr promote --without-archive": recovery ends with the WAL the standby has' };
  if (promotionPending(dataDir))
    return { wait: true, why: 'a promotion is pending, and "not found" now would end recovery without the WAL the repository holds' };
  // PostgreSQL reads pg_wal right after a "not found" from the archive, before anything else:
  // a standby restarted during an outage reaches consistency from the segments it kept there.
  // Not with a promotion pending: a streamed segment there may be partial, or a recycled file
  // under a future name, and PostgreSQL would promote at its end.
  if (existsSync(join(dataDir, 'pg_wal', name))) return { wait: false, why: `PostgreSQL reads the copy in pg_wal/${name} next` };
  // A standby probes for newer timelines when it starts and again after each failed read; an
  // answer missed now is found at the next probe. Waiting here would keep a standby from even
  // starting during an outage.
  if (name.endsWith('.history')) return { wait: false, why: 'PostgreSQL looks for newer timelines again later' };
  const streams = streamsFromPrimary(dataDir);
  if (streams === true) return { wait: false, why: 'the standby streams from its primary, which PostgreSQL tries next' };
  return {
    wait: true,
    why:
      streams === false ? "the repository is this standby's only source of WAL" : 'cannot tell whether this standby streams from a primary',
  };
}

/** Releases the standby's current run from waiting (see RELEASE_FILE); false when no server runs. */
export function releaseStandby(dataDir: string): boolean {
  const run = serverRun(dataDir);
  if (run === null) return false;
  // Readable by all: run as root, it must still be read by the postgres user's wal-fetch.
  replaceFile(join(dataDir, RELEASE_FILE), `${run}\n`, { mode: 0o644 });
  return true;
}

/**
 * Whether `pitr promote --without-archive` released this run of the server. It outlives
 * standby.signal: PostgreSQL removes that file before it fetches the history files that end
 * a promotion, and those must get "not found" too (it then uses the copies in pg_wal).
 */
export function released(dataDir: string): boolean {
  const run = serverRun(dataDir);
  return run !== null && readTextQuietly(join(dataDir, RELEASE_FILE)).trim() === run;
}

/**
 * Called with the store's first unavailability: retries `attempt` (1 s, doubling to 5 s) while
 * the verdict says wait (a server that stops ends it); 'not-found' once it says not to.
 */
export async function rideOutOutage<T>(
  attempt: () => Promise<T>,
  first: StorageUnavailableError,
  dataDir: string,
  name: string,
  log: Logger,
): Promise<T | 'not-found'> {
  let error = first;
  let delay = 1000;
  let remindAt = 0;
  let said = '';
  for (;;) {
    const verdict = outageVerdict(dataDir, name);
    if (!verdict.wait) {
      log.warn({ wal: name, why: verdict.why }, `${error.message}; reporting "not found" to this standby`);
      return 'not-found';
    }
    if (performance.now() >= remindAt || verdict.why !== said) {
      remindAt = performance.now() + REMIND_EVERY_MS;
      said = verdict.why;
      log.warn(
        { wal: name, why: verdict.why },
        `${error.message}; this standby waits for the repository (recovery cannot end meanwhile). ` +
          `To promote it without the archived WAL instead: pitr promote --without-archive --pgdata ${dataDir}`,
      );
    }
    await sleep(delay);
    delay = Math.min(delay * 2, 5000);
    try {
      const result = await attempt();
      log.info({ wal: name }, 'the repository answers again');
      return result;
    } catch (err) {
      if (!(err instanceof StorageUnavailableError)) throw err;
      error = err;
    }
  }
}
