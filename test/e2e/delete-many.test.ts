// Storage.deleteMany on both stores: more keys than one S3 DeleteObjects request takes (1000),
// absent keys among them, and nothing else touched.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { openStorage } from '../../src/storage/open.js';
import type { Storage } from '../../src/storage/storage.js';
import { fileRepo, s3Repo, type RepoFixture } from '../support/repos.js';
import { useS3Store } from '../support/s3.js';

const s3 = useS3Store();

describe.each(['file', 's3'] as const)('deleteMany in a %s repository', (kind) => {
  let repo: RepoFixture;
  let storage: Storage;
  const saved = { ...process.env };

  beforeAll(async () => {
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3());
    // The AWS SDK reads credentials from the process environment.
    Object.assign(process.env, repo.env);
    storage = await openStorage(loadConfig({}, repo.env));
  });
  afterAll(() => {
    for (const key of Object.keys(repo?.env ?? {})) {
      if (saved[key] === undefined) delete process.env[key];
      else process.env[key] = saved[key];
    }
  });

  it('deletes 1,205 keys in batches, skips absent ones, and leaves the rest', async () => {
    const keys = Array.from({ length: 1205 }, (_, i) => `x/${String(i).padStart(5, '0')}`);
    for (let i = 0; i < keys.length; i += 50) await Promise.all(keys.slice(i, i + 50).map((k) => storage.put(k, Buffer.from(k))));
    await storage.put('x/keep', Buffer.from('keep'));
    await storage.deleteMany([...keys, 'x/never-stored']);
    expect((await storage.list('x/')).objects.map((o) => o.key)).toEqual(['x/keep']);
  });

  it('leaves no empty directory of a deleted backup behind, and keeps one that is not empty', async () => {
    await storage.put('backups/a/base.tar.lz4', Buffer.from('a'));
    await storage.put('backups/a/manifest.json', Buffer.from('{}'));
    await storage.put('backups/b/base.tar.lz4', Buffer.from('b'));
    await storage.put('backups/b/manifest.json', Buffer.from('{}'));
    await storage.deleteMany(['backups/a/manifest.json', 'backups/a/base.tar.lz4', 'backups/b/manifest.json']);
    expect((await storage.list('backups/', { delimiter: '/' })).prefixes).toEqual(['backups/b/']);
  });
});
