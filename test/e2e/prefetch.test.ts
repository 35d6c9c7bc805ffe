// Prefetching restore_command: recovery through wal-fetch takes most segments from the spool
// the background prefetcher fills, never takes a planted bad or partial file from it, and the
// spool is gone once recovery is over.
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { giveToPostgres, waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, fileRepo, s3Repo, type RepoFixture } from '../support/repos.js';
import { useS3Store } from '../support/s3.js';

const s3 = useS3Store();

describe.each(['file', 's3'] as const)('recovery with prefetch from a %s repository', (kind) => {
  let repo: RepoFixture;
  let primary: Cluster;
  let copy: Cluster | undefined;

  beforeAll(async () => {
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3());
    primary = await Cluster.create({ initdbArgs: ['--wal-segsize=1'], conf: archivingInto(repo) });
    await primary.start();
  });
  afterAll(async () => {
    await copy?.stop('immediate');
    await primary?.stop('immediate');
  });

  it('replays from the spool, refuses planted bad and partial files, and removes the spool at the end', async () => {
    await primary.query('CREATE TABLE t (id int)');
    const backupDir = await primary.baseBackup();
    let last = '';
    for (let i = 1; i <= 30; i++) {
      await primary.query('INSERT INTO t SELECT generate_series(1, 500)');
      last = await primary.switchWal();
    }
    await primary.waitArchived(last);

    // Plant, where the prefetcher keeps its files, a wrong file under a name recovery will
    // take (its name promises a SHA-256 the bytes do not have) and a half-written one.
    const spool = join(backupDir, 'pg_wal', 'pitr', 'prefetch', createHash('sha256').update(repo.env.PITR_REPO!).digest('hex').slice(0, 12));
    await mkdir(spool, { recursive: true });
    const wrongName = `${last.slice(0, 16)}${(parseInt(last.slice(16), 16) - 5).toString(16).toUpperCase().padStart(8, '0')}`;
    await writeFile(join(spool, `${wrongName}.${'0'.repeat(64)}`), Buffer.alloc(1024 * 1024, 1));
    await writeFile(join(spool, `.${last}.fetching`), Buffer.alloc(1000, 2));
    await giveToPostgres(join(backupDir, 'pg_wal', 'pitr'));

    copy = await Cluster.adopt(backupDir);
    await copy.prepareRecovery(repo.restoreCommand);
    await copy.start();
    const restored = copy;
    await waitFor('recovery to finish', async () => (await restored.one<boolean>('SELECT pg_is_in_recovery()')) === false, 300_000);
    expect(await restored.one<string>('SELECT count(*)::text FROM t')).toBe(String(30 * 500));

    const log = await restored.log();
    const prefetched = log.split('\n').filter((l) => l.includes('restored (prefetched)')).length;
    expect(prefetched).toBeGreaterThan(10);
    expect(log).not.toMatch(/FATAL|PANIC/);
    // Promotion asks for a history file the spool does not hold: the spool goes.
    await waitFor('the spool to be removed', async () => !existsSync(spool) || (await readdir(spool)).length === 0);
  });
});
