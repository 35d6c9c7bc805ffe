// `pitr wal-push <path>`: PostgreSQL's archive_command. Exit 0 only once the file is durable.
import { pushWalFile } from '../archive/push.js';
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
  const storage = await openStorage(config);
  const result = await pushWalFile(path, { storage, compression: config.compress, dataDir: resolveDataDir(config) });
  if (result.boundRepository) log.info({ repo: storage.url }, 'repository bound to this cluster');
  log[result.status === 'repaired' ? 'warn' : 'info'](
    { wal: result.name, bytes: result.size, storedBytes: result.storedBytes, ms: Math.round(performance.now() - started) },
    MESSAGES[result.status],
  );
}
