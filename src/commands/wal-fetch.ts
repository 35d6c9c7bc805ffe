// `pitr wal-fetch <name> <dest>`: PostgreSQL's restore_command. Exit 1 quietly when the file
// is not archived; any other failure exits above 125 (see errors.ts) so recovery stops
// instead of ending early.
import { bestEffort } from '../archive/best-effort.js';
import { fetchWalFile } from '../archive/fetch.js';
import { startPrefetcher, takePrefetched } from '../archive/prefetch.js';
import type { CommandContext } from '../cli/context.js';
import { ExitCode, StorageUnavailableError } from '../errors.js';
import { isStandby, resolveDataDir } from '../pg/data-dir.js';
import { openStorage } from '../storage/open.js';

export async function walFetchCommand({ config, log }: CommandContext, name: string, dest: string): Promise<number> {
  const started = performance.now();
  const dataDir = resolveDataDir(config);
  const prefetch = config.fetchPrefetch > 0 && config.repo !== undefined;
  // Downloaded ahead by the prefetcher and verified again now: no store, no SDK.
  const kickPrefetcher = () => bestEffort(startPrefetcher(dataDir, config.repo!, name, process.argv.slice(2)), undefined, 'starting the prefetcher', log);
  if (prefetch && (await bestEffort(takePrefetched(dataDir, config.repo!, name, dest), false, 'reading the prefetch spool', log))) {
    await kickPrefetcher();
    log.info({ wal: name, ms: Math.round(performance.now() - started) }, 'restored (prefetched)');
    return ExitCode.ok;
  }
  try {
    const storage = await openStorage(config);
    const result = await fetchWalFile(name, dest, { storage, dataDir });
    if (result.status === 'not-found') {
      log.debug({ wal: name }, 'not in the repository');
      return ExitCode.notFound;
    }
    if (prefetch) await kickPrefetcher();
    log.info({ wal: name, bytes: result.size, ms: Math.round(performance.now() - started) }, 'restored');
    return ExitCode.ok;
  } catch (err) {
    if (err instanceof StorageUnavailableError && isStandby(dataDir)) {
      log.warn({ wal: name }, `${err.message}; this is a standby, so reporting "not found" and letting PostgreSQL retry`);
      return ExitCode.notFound;
    }
    throw err;
  }
}
