// One call of PostgreSQL's restore_command that reached Node: the prefetch spool did not hold
// the file (yet) for bin/pitr. Answers from the spool when the prefetcher has it now, else
// fetches the file itself (a standby rides out a store outage), and keeps the prefetcher going.
import type { Call } from '../launcher/fingerprint.js';
import { spoolDir } from '../launcher/handoff.js';
import { identityKeys } from '../codec/age-keys.js';
import type { Config } from '../config/config.js';
import { ExitCode, StorageUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { inOwnPgWal, resolveDataDir } from '../pg/data-dir.js';
import { isStandby } from '../pg/standby.js';
import { openStorage } from '../storage/open.js';
import { bestEffort } from './best-effort.js';
import { fetchWalFile } from './fetch.js';
import { ensurePrefetcher, markWanted, takePrefetched } from './prefetch.js';

export interface RestoreCallOptions {
  config: Config;
  log: Logger;
  /** This process's call in the launcher's shape, or null (asked only for the server's own pg_wal). */
  ownCall: () => Call | null;
}

/** Exit 0 once the file is at `dest`, 1 when it is not archived. */
export async function restoreWalFile(name: string, dest: string, { config, log, ownCall }: RestoreCallOptions): Promise<number> {
  const started = performance.now();
  const dataDir = resolveDataDir(config);
  // Prefetch only into the recovering server's own pg_wal, for calls of the shape bin/pitr knows.
  const call = config.fetchPrefetch > 0 && inOwnPgWal(dataDir, dest) ? ownCall() : null;
  const spool = call && spoolDir(dataDir, call.fingerprint);
  const following = async () => {
    await markWanted(spool!, name);
    await ensurePrefetcher(dataDir, spool!, call!.flags);
  };
  if (spool && (await bestEffort(takePrefetched(spool, name, dest), false, 'reading the prefetch spool', log))) {
    await bestEffort(ensurePrefetcher(dataDir, spool, call!.flags), undefined, 'starting the prefetcher', log);
    log.info({ wal: name, ms: Math.round(performance.now() - started) }, 'restored (prefetched)');
    return ExitCode.ok;
  }
  // Started now, not after this call: it starts while this call works, with the backup's
  // first segment planned, so that the next calls wait for it instead of downloading.
  if (spool) await bestEffort(ensurePrefetcher(dataDir, spool, call!.flags), undefined, 'starting the prefetcher', log);
  const keys = identityKeys(config.identityFile);
  const attempt = async () => fetchWalFile(name, dest, { storage: await openStorage(config), dataDir, keys });
  let result;
  try {
    result = await attempt();
  } catch (err) {
    // A standby rides out an outage instead of stopping, and never ends recovery over it.
    if (!(err instanceof StorageUnavailableError)) throw err;
    const { released, rideOutOutage } = await import('./standby-outage.js'); // the rare path: not loaded per call
    if (!isStandby(dataDir) && !released(dataDir)) throw err;
    result = await rideOutOutage(attempt, err, dataDir, name, log);
    if (result === 'not-found') return ExitCode.notFound;
  }
  if (result.status === 'not-found') {
    log.debug({ wal: name }, 'not in the repository');
    return ExitCode.notFound;
  }
  if (spool) await bestEffort(following(), undefined, 'starting the prefetcher', log);
  log.info({ wal: name, bytes: result.size, ms: Math.round(performance.now() - started) }, 'restored');
  return ExitCode.ok;
}
