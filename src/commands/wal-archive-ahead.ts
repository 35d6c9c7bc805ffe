// `pitr wal-archive-ahead`: the resident archiver, started in the background by wal-push; not for operators.
import { ARCHIVER_COMMAND, runArchiver } from '../archive/archiver.js';
import type { CommandContext } from '../cli/context.js';
import { workerFingerprint } from '../cli/invocation.js';
import { resolveDataDir } from '../pg/data-dir.js';
import { openStorage } from '../storage/open.js';

export async function walArchiveAheadCommand({ config, log }: CommandContext): Promise<void> {
  // Started as `[flags...] wal-archive-ahead`, with the flags of the call it serves.
  const fingerprint = workerFingerprint(ARCHIVER_COMMAND);
  const storage = await openStorage(config);
  const stored = await runArchiver({
    storage,
    compression: config.compress,
    dataDir: resolveDataDir(config),
    fingerprint,
    lookahead: config.archiveLookahead,
    concurrency: config.archiveConcurrency,
    idleMs: 60_000,
    log,
  });
  log.debug({ stored }, 'archiver done');
}
