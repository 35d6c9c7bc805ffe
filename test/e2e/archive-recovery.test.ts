// The whole promise of WAL archiving, end to end: a real server archives through bin/pitr,
// and a copy made by pg_basebackup (without WAL) recovers purely through wal-fetch.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pitr } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, fileRepo, s3Repo, type RepoFixture } from '../support/repos.js';
import { useS3Store } from '../support/s3.js';

const s3 = useS3Store();

describe.each(['file', 's3'] as const)('archive and recover through a %s repository', (kind) => {
  let repo: RepoFixture;
  let primary: Cluster;
  let restored: Cluster | undefined;

  beforeAll(async () => {
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3());
    primary = await Cluster.create({ conf: archivingInto(repo) });
    await primary.start();
  });
  afterAll(async () => {
    await restored?.stop('immediate');
    await primary?.stop('immediate');
  });

  it('archives dozens of segments and a base backup recovers them all via wal-fetch', async () => {
    await primary.query('CREATE TABLE marker (id int PRIMARY KEY, note text)');
    await primary.query("INSERT INTO marker SELECT g, 'before backup' FROM generate_series(1, 100) g");
    const backupDir = await primary.baseBackup();

    // Real WAL volume (about 3 segments of row data) ...
    await primary.query('CREATE TABLE bulk AS SELECT g AS id, repeat(md5(g::text), 8) AS pad FROM generate_series(1, 150000) g');
    // ... and many switched segments, each holding one marker row.
    for (let i = 101; i <= 130; i++) {
      await primary.query("INSERT INTO marker VALUES ($1, 'after backup')", [i]);
      await primary.switchWal();
    }
    await primary.query("INSERT INTO marker VALUES (131, 'last')");
    const last = await primary.switchWal();
    await primary.waitArchived(last);
    const archived = await primary.one<string>('SELECT archived_count::text FROM pg_stat_archiver');
    expect(Number(archived)).toBeGreaterThanOrEqual(33);
    expect(await primary.one<string>('SELECT failed_count::text FROM pg_stat_archiver')).toBe('0');
    // What archive_command says lands in PostgreSQL's log: pitr's JSON lines, not the SDK's notice.
    const serverLog = await primary.log();
    expect(serverLog).toContain('"msg":"archived"');
    expect(serverLog).not.toContain('NodeVersionSupportWarning');

    // Archiving works, but this copy was made by pg_basebackup, not pitr backup: status names that alone.
    const status = await pitr(['status', '--json'], { env: { ...repo.env, ...primary.libpqEnv } });
    expect(status.exitCode).toBe(11);
    const report = JSON.parse(status.stdout);
    expect(report.problems).toEqual([expect.stringContaining('no backup at all')]);
    expect(report.database.archiver.failedCount).toBe(0);
    expect(report.identity.systemIdentifier).toBe(await primary.one<string>('SELECT system_identifier::text FROM pg_control_system()'));
    expect(report.timelines[0].lastWal).toBe(last);

    restored = await Cluster.adopt(backupDir);
    await restored.prepareRecovery(repo.restoreCommand);
    await restored.start();
    const cluster = restored;
    await waitForPromotion(cluster);
    expect(await cluster.one<string>('SELECT count(*)::text FROM marker')).toBe('131');
    expect(await cluster.one<string>('SELECT note FROM marker WHERE id = 131')).toBe('last');
    expect(await cluster.one<string>('SELECT count(*)::text FROM bulk')).toBe('150000');
    // Recovery ended on a new timeline, after restoring every segment through pitr.
    expect(await cluster.one<number>('SELECT timeline_id FROM pg_control_checkpoint()')).toBe(2);
    expect(await cluster.log()).toContain(`restored log file "${last}" from archive`);
  });
});

async function waitForPromotion(cluster: Cluster): Promise<void> {
  const { waitFor } = await import('../../tools/harness/env.js');
  await waitFor(
    'recovery to end and the server to promote',
    async () => (await cluster.one<boolean>('SELECT pg_is_in_recovery()')) === false,
    120_000,
  );
}
