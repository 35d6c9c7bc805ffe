// The repository lock: a holder whose lock was taken over while it was silent learns so at its
// next heartbeat, stops refreshing, and its release leaves the new holder's lock alone.
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { acquireRepositoryLock, type LockHolder } from '../../src/repository/repository-lock.js';
import { openStorage } from '../../src/storage/open.js';
import { tempDir, waitFor } from '../../tools/harness/env.js';

describe('repository lock', () => {
  it('a holder taken over learns it at its next heartbeat and leaves the new lock alone', async () => {
    const storage = await openStorage(loadConfig({ repo: `file://${await tempDir('pitr-lock-')}` }, {}));
    const lost: (LockHolder | null)[] = [];
    const key = 'locks/test.json';
    const lock = await acquireRepositoryLock(storage, {
      key,
      id: 'first',
      busy: () => 'busy',
      heartbeatMs: 50,
      onLost: (h) => lost.push(h),
    });
    await expect(acquireRepositoryLock(storage, { key, id: 'second', busy: () => 'held by first' })).rejects.toThrow('held by first');
    // As another host does once the first has been silent for 5 minutes: it takes the lock.
    const now = new Date().toISOString();
    const successor = { id: 'second', pid: 1, host: 'db2', pidSpace: 'elsewhere', startedAt: now, heartbeatAt: now };
    await storage.put(key, Buffer.from(JSON.stringify(successor)));
    await waitFor('the first to notice', async () => lost.length === 1);
    expect(lost[0]).toMatchObject({ id: 'second', host: 'db2' });
    await lock.release();
    expect(JSON.parse((await storage.get(key))!.toString())).toMatchObject({ id: 'second' });
  });
});
