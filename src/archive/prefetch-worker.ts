// The background half of prefetching (`pitr wal-prefetch <segment>`, started by wal-fetch):
// downloads the segments after <segment> into the spool, each verified and fsynced before it
// is named for the taking, and stops at the first one not archived yet or at the depth limit.
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../log.js';
import type { Storage } from '../storage/storage.js';
import { segmentFileName, segmentNumberOfName } from '../wal/segments.js';
import { fetchWalFile } from './fetch.js';
import { lockPrefetcher, prefetchSpool, spooledSegments, unlockPrefetcher } from './prefetch.js';

export async function prefetchAfter(
  name: string,
  o: { storage: Storage; dataDir: string; repo: string; depth: number; segmentSize: number; log: Logger },
): Promise<number> {
  if (!/^[0-9A-F]{24}$/.test(name)) return 0;
  const dir = prefetchSpool(o.dataDir, o.repo);
  if (!(await lockPrefetcher(dir))) return 0;
  let fetched = 0;
  try {
    const have = await spooledSegments(dir);
    const timeline = parseInt(name.slice(0, 8), 16);
    const segno = segmentNumberOfName(name, o.segmentSize);
    for (let i = 1n; i <= BigInt(o.depth); i++) {
      const next = segmentFileName(timeline, segno + i, o.segmentSize);
      if (have.has(next)) continue;
      const staging = join(dir, `.${next}.fetching`);
      const res = await fetchWalFile(next, staging, { storage: o.storage, dataDir: o.dataDir, durable: true });
      if (res.status === 'not-found') break;
      await rename(staging, join(dir, `${next}.${res.sha256}`));
      fetched++;
    }
  } finally {
    await unlockPrefetcher(dir);
  }
  o.log.debug({ after: name, fetched }, 'prefetched');
  return fetched;
}
