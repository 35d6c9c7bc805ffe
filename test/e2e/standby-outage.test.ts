// A standby whose only source is the repository (restore_command = pitr wal-fetch, no
// primary_conninfo) while the repository cannot be reached. It must neither end recovery over
// the outage (a promotion asked for meanwhile waits for the archived WAL) nor shut down (a
// file:// repository whose volume went away is waited for, as `cp` would be).
import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asPostgres, giveToPostgres, PG_BIN, pitr, waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { S3Server } from '../../tools/harness/s3.js';
import { archivingInto, fileRepo, s3Repo, type RepoFixture } from '../support/repos.js';

/** A primary archiving into `repo` with 1,000 rows, and a hot standby made from its backup, caught up. */
async function primaryAndStandby(repo: RepoFixture): Promise<{ primary: Cluster; standby: Cluster }> {
  const primary = await Cluster.create({ conf: archivingInto(repo) });
  await primary.start();
  await primary.query('CREATE TABLE t (id int)');
  await primary.query('INSERT INTO t SELECT generate_series(1, 1000)');
  const backup = await primary.baseBackup();
  await primary.waitArchived(await primary.switchWal());
  // Prefetching off, and PostgreSQL's own read-ahead off: every segment is asked for when
  // replay needs it, so that what the standby has replayed is what the test says.
  const standby = await Cluster.adopt(backup, {
    restore_command: `'${repo.restoreCommand.replace('wal-fetch', '--fetch-prefetch 0 wal-fetch')}'`,
    hot_standby: 'on',
    recovery_prefetch: 'off',
    archive_mode: 'off',
    fsync: 'off',
  });
  await writeFile(join(backup, 'standby.signal'), '');
  await giveToPostgres(backup);
  await standby.start();
  await waitFor(
    'the standby to replay the first 1,000 rows',
    async () => (await standby.one<string>('SELECT count(*)::text FROM t')) === '1000',
  );
  return { primary, standby };
}

/**
 * Archives WAL the standby has not replayed, then takes the store down: the standby is stopped
 * meanwhile and started again during the outage (it reaches consistency from the segments it
 * kept in pg_wal, and then needs the store for the rest).
 */
async function archiveUnreplayedThenOutage(primary: Cluster, standby: Cluster, rows: number, takeDown: () => Promise<void>): Promise<void> {
  await standby.stop('fast');
  await primary.query(`INSERT INTO t SELECT generate_series(1, ${rows})`);
  await primary.waitArchived(await primary.switchWal());
  await takeDown();
  await standby.start();
}

const inRecovery = (c: Cluster) => c.one<boolean>('SELECT pg_is_in_recovery()');
/** restore_command's word on the outage in the server's log, whatever it then does about it. */
const metOutage = async (c: Cluster, what: RegExp) => waitFor('the standby to meet the outage', async () => what.test(await c.log()));

describe('an archive-only standby promoted while its S3 repository is down', () => {
  let s3: S3Server;
  beforeAll(async () => {
    s3 = await S3Server.start();
  });
  afterAll(async () => {
    await s3?.stop();
  });

  it('does not promote until the repository answers, then has every archived row', async () => {
    const repo = await s3Repo(s3);
    const { primary, standby } = await primaryAndStandby(repo);
    try {
      await archiveUnreplayedThenOutage(primary, standby, 300000, () => s3.stop());
      await metOutage(standby, /cannot reach/);

      const promote = await asPostgres(join(PG_BIN, 'pg_ctl'), ['promote', '-D', standby.dataDir, '-W']);
      expect(promote.exitCode, promote.stderr).toBe(0);
      // The promotion is asked for; recovery may end only once the store answers. Waited for
      // until either happens: the standby promoted, or its restore_command says it waits with
      // the promotion pending.
      await waitFor(
        'the promotion or the wait for it',
        async () => !(await inRecovery(standby)) || /a promotion is pending/.test(await standby.log()),
      );
      expect(await inRecovery(standby), 'promoted while the repository was down').toBe(true);
      expect(await standby.one<string>('SELECT count(*)::text FROM t')).toBe('1000');

      await s3.restart();
      await waitFor('the promotion', async () => !(await inRecovery(standby)), 120_000);
      expect(await standby.one<string>('SELECT count(*)::text FROM t')).toBe('301000');
    } finally {
      await Promise.all([primary.stop('immediate'), standby.stop('immediate')]);
    }
  });

  it('promotes with the WAL it has when the operator says so: pitr promote --without-archive', async () => {
    await s3.restart();
    const repo = await s3Repo(s3);
    const { primary, standby } = await primaryAndStandby(repo);
    try {
      await archiveUnreplayedThenOutage(primary, standby, 1000, () => s3.stop());
      await metOutage(standby, /this standby waits for the repository/);
      const res = await pitr(['promote', '--without-archive', '--pgdata', standby.dataDir]);
      expect(res.exitCode, res.stderr).toBe(0);
      expect(await inRecovery(standby)).toBe(false);
      expect(await standby.one<string>('SELECT count(*)::text FROM t')).toBe('1000');
    } finally {
      await Promise.all([primary.stop('immediate'), standby.stop('immediate')]);
    }
  });
});

describe('an archive-only standby whose file:// repository volume goes away', () => {
  it('keeps running and waiting, and replays on once the volume is back', async () => {
    const repo = await fileRepo();
    const { primary, standby } = await primaryAndStandby(repo);
    try {
      const pid = async () => Number((await readFile(join(standby.dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
      const before = await pid();
      await rename(repo.dir!, `${repo.dir}.away`);
      await metOutage(standby, /repository directory .* does not exist/);
      // (Before: exit 209, and PostgreSQL shut the standby down.)
      await waitFor(
        'the standby to wait for it',
        async () => /this standby waits for the repository/.test(await standby.log()) || (await pid().catch(() => 0)) !== before,
      );
      expect(await inRecovery(standby)).toBe(true);
      expect(await pid()).toBe(before);
      await rename(`${repo.dir}.away`, repo.dir!);
      await primary.query('INSERT INTO t SELECT generate_series(1, 1000)');
      await primary.waitArchived(await primary.switchWal());
      await waitFor(
        'the standby to replay the new rows',
        async () => (await standby.one<string>('SELECT count(*)::text FROM t')) === '2000',
      );
      expect(await pid()).toBe(before);
    } finally {
      await Promise.all([primary.stop('immediate'), standby.stop('immediate')]);
    }
  });
});
