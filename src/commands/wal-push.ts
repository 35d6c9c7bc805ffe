// `pitr wal-push <path>`: PostgreSQL's archive_command. Exit 0 only once the file is durable.
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { bestEffort } from '../archive/best-effort.js';
import { clearSpool } from '../archive/prefetch.js';
import { consumeRecord } from '../archive/spool.js';
import type { CommandContext } from '../cli/context.js';
import { resolveDataDir } from '../pg/data-dir.js';
import { openStorage } from '../storage/open.js';

const MESSAGES = {
  stored: 'archived',
  exists: 'already archived with identical content',
  repaired: 'archived, replacing an incomplete copy left by an interrupted push',
} as const;

export async function walPushCommand({ config, log }: CommandContext, path: string): Promise<void> {
  const started = performance.now();
  const dataDir = resolveDataDir(config);
  // archive_command runs once recovery is over: a prefetch spool left from it goes now.
  if (existsSync(join(dataDir, 'pg_wal', 'pitr', 'prefetch'))) await bestEffort(clearSpool(dataDir), undefined, 'removing the prefetch spool', log);
  // Stored earlier by a look-ahead push: verified against the file, without loading the store.
  if (config.repo && (await bestEffort(consumeRecord(dataDir, path, config.repo), false, 'reading the look-ahead record', log))) {
    log.info({ wal: basename(path), ms: Math.round(performance.now() - started) }, 'archived earlier (look-ahead)');
    return;
  }
  const storage = await openStorage(config);
  const { pushWithLookahead } = await import('../archive/lookahead.js');
  const result = await pushWithLookahead(path, {
    storage,
    compression: config.compress,
    dataDir,
    lookahead: config.archiveLookahead,
    concurrency: config.archiveConcurrency,
    repo: config.repo!,
    log,
  });
  if (result.boundRepository) log.info({ repo: storage.url }, 'repository bound to this cluster');
  log[result.status === 'repaired' ? 'warn' : 'info'](
    { wal: result.name, bytes: result.size, storedBytes: result.storedBytes, ms: Math.round(performance.now() - started) },
    MESSAGES[result.status],
  );
}
