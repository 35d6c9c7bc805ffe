// `pitr wal-prefetch`: the resident prefetcher, started in the background by wal-fetch (bin/pitr's
// or Node's); not for operators.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PREFETCH_COMMAND } from '../archive/prefetch.js';
import { spool, spoolDir } from '../launcher/handoff.js';
import { runPrefetcher } from '../archive/prefetch-worker.js';
import { defineCommand } from '../cli/command.js';
import { identityKeys } from '../codec/age-keys.js';
import type { CommandContext } from '../cli/context.js';
import { invocationFingerprint, workerFlags } from '../launcher/fingerprint.js';
import { unlinkQuietly } from '../os/quiet-fs.js';
import { resolveDataDir } from '../pg/data-dir.js';
import { readIdentity } from '../repository/identity.js';
import { openStorage } from '../storage/open.js';

async function walPrefetchCommand({ config, log }: CommandContext): Promise<void> {
  // Started as `[flags...] wal-prefetch`, with the flags of the call it serves.
  const flags = workerFlags(PREFETCH_COMMAND);
  const fingerprint = invocationFingerprint(flags);
  // The configuration changed between the call that started this worker and now: that call's
  // next one starts a worker that matches, if it can have one.
  if (fingerprint === null) return;
  const dataDir = resolveDataDir(config);
  const dir = spoolDir(dataDir, fingerprint);
  if (config.fetchPrefetch === 0) {
    // Started by bin/pitr, which cannot read the configuration file: tell it not to again.
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await writeFile(join(dir, spool.OFF), '');
    return;
  }
  unlinkQuietly(join(dir, spool.OFF)); // on again (PITR_FETCH_PREFETCH is not in the fingerprint)
  const fetched = await runPrefetcher({
    connect: async () => {
      const storage = await openStorage(config);
      const identity = await readIdentity(storage);
      return identity && { storage, segmentSize: identity.walSegmentSize };
    },
    dataDir,
    dir,
    fingerprint,
    stillConfigured: () => invocationFingerprint(flags) === fingerprint,
    depth: config.fetchPrefetch,
    concurrency: config.fetchConcurrency,
    idleMs: 60_000,
    keys: identityKeys(config.identityFile),
    log,
  });
  log.debug({ fetched }, 'prefetcher done');
}

export const command = defineCommand({
  name: PREFETCH_COMMAND,
  walCommand: true,
  describe: 'the resident prefetcher, started in the background by wal-fetch',
  handler: walPrefetchCommand,
});
