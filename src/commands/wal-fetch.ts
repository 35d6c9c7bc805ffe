// `pitr wal-fetch <name> <dest>`: PostgreSQL's restore_command. Exit 1 quietly when the file
// is not archived; any other failure exits above 125 (see errors.ts) so recovery stops
// instead of ending early. bin/pitr serves most calls itself from the prefetch spool; this
// is the call that reaches Node: the spool does not hold the file (yet).
import { bestEffort } from '../archive/best-effort.js';
import { fetchWalFile } from '../archive/fetch.js';
import { ensurePrefetcher, markWanted, takePrefetched } from '../archive/prefetch.js';
import { spoolDir } from '../launcher/handoff.js';
import type { CommandContext } from '../cli/context.js';
import { ownCall } from '../launcher/fingerprint.js';
import { ExitCode, StorageUnavailableError } from '../errors.js';
import { inOwnPgWal, resolveDataDir } from '../pg/data-dir.js';
import { isStandby } from '../pg/standby.js';
import { openStorage } from '../storage/open.js';

export async function walFetchCommand({ config, log }: CommandContext, name: string, dest: string): Promise<number> {
  const started = performance.now();
  const dataDir = resolveDataDir(config);
  // Prefetch only into the recovering server's own pg_wal, for calls of the shape bin/pitr knows.
  const call = config.fetchPrefetch > 0 && inOwnPgWal(dataDir, dest) ? ownCall('wal-fetch') : null;
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
  const attempt = async () => fetchWalFile(name, dest, { storage: await openStorage(config), dataDir });
  let result;
  try {
    result = await attempt();
  } catch (err) {
    // A standby rides out an outage instead of stopping, and never ends recovery over it.
    if (!(err instanceof StorageUnavailableError)) throw err;
    const { released, rideOutOutage } = await import('../archive/standby-outage.js'); // the rare path: not loaded per call
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
