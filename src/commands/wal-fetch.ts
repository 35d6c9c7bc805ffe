// `pitr wal-fetch <name> <dest>`: PostgreSQL's restore_command. Exit 1 quietly when the file
// is not archived; any other failure exits above 125 (see errors.ts) so recovery stops
// instead of ending early. bin/pitr serves most calls itself from the prefetch spool; this
// is the call that reaches Node: the spool does not hold the file (yet).
import { existsSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { bestEffort } from '../archive/best-effort.js';
import { fetchWalFile } from '../archive/fetch.js';
import { ensurePrefetcher, markWanted, spoolDir, takePrefetched } from '../archive/prefetch.js';
import type { CommandContext } from '../cli/context.js';
import { flagsOf, invocationFingerprint } from '../cli/invocation.js';
import { ExitCode, StorageUnavailableError } from '../errors.js';
import { isStandby, resolveDataDir } from '../pg/data-dir.js';
import { openStorage } from '../storage/open.js';

export async function walFetchCommand({ config, log }: CommandContext, name: string, dest: string): Promise<number> {
  const started = performance.now();
  const dataDir = resolveDataDir(config);
  // Prefetch only into the recovering server's own pg_wal, for calls of the shape bin/pitr knows.
  const own = config.fetchPrefetch > 0 && existsSync(join(dataDir, 'global', 'pg_control')) && resolve(dest).startsWith(join(dataDir, 'pg_wal'));
  const flags = own ? flagsOf(process.argv.slice(2), 'wal-fetch') : null;
  const spool = flags && spoolDir(dataDir, invocationFingerprint(flags));
  const following = async () => {
    await markWanted(spool!, name);
    await ensurePrefetcher(dataDir, spool!, flags!);
  };
  if (spool && (await bestEffort(takePrefetched(spool, name, dest), false, 'reading the prefetch spool', log))) {
    await bestEffort(following(), undefined, 'starting the prefetcher', log);
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
    if (spool) await bestEffort(following(), undefined, 'starting the prefetcher', log);
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
