// `pitr wal-prefetch`: the resident prefetcher, started in the background by wal-fetch; not for operators.
import { PREFETCH_COMMAND, spoolDir } from '../archive/prefetch.js';
import { runPrefetcher } from '../archive/prefetch-worker.js';
import type { CommandContext } from '../cli/context.js';
import { workerFingerprint } from '../cli/invocation.js';
import { resolveDataDir } from '../pg/data-dir.js';
import { readIdentity } from '../repository/identity.js';
import { openStorage } from '../storage/open.js';

export async function walPrefetchCommand({ config, log }: CommandContext): Promise<void> {
  // Started as `[flags...] wal-prefetch`, with the flags of the call it serves.
  const fingerprint = workerFingerprint(PREFETCH_COMMAND);
  const dataDir = resolveDataDir(config);
  const fetched = await runPrefetcher({
    connect: async () => {
      const storage = await openStorage(config);
      const identity = await readIdentity(storage);
      return identity && { storage, segmentSize: identity.walSegmentSize };
    },
    dataDir,
    dir: spoolDir(dataDir, fingerprint),
    fingerprint,
    depth: config.fetchPrefetch,
    concurrency: config.fetchConcurrency,
    idleMs: 60_000,
    log,
  });
  log.debug({ fetched }, 'prefetcher done');
}
