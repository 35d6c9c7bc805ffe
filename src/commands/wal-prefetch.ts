// `pitr wal-prefetch <segment>`: started in the background by wal-fetch; not for operators.
import { prefetchAfter } from '../archive/prefetch-worker.js';
import type { CommandContext } from '../cli/context.js';
import { resolveDataDir } from '../pg/data-dir.js';
import { readIdentity } from '../repository/identity.js';
import { openStorage } from '../storage/open.js';

export async function walPrefetchCommand({ config, log }: CommandContext, name: string): Promise<void> {
  const storage = await openStorage(config);
  const identity = await readIdentity(storage);
  if (!identity || !config.repo) return;
  await prefetchAfter(name, { storage, dataDir: resolveDataDir(config), repo: config.repo, depth: config.fetchPrefetch, segmentSize: identity.walSegmentSize, log });
}
