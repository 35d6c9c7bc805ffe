// pitr status against a real cluster archiving through bin/pitr: healthy only with a backup,
// working archiving, a recent backup, no failed verify and no gap in the window's WAL; every
// problem named, one line each.
import { chmod, copyFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { recordVerifyRun } from '../../src/repository/verify-results.js';
import { openStorage } from '../../src/storage/open.js';
import { freePort, pitr, tempDir, waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingCluster, archivingInto, fileRepo, s3Repo, type RepoFixture } from '../support/repos.js';
import { S3Server } from '../../tools/harness/s3.js';

async function status(env: Record<string, string>) {
  const res = await pitr(['status', '--json'], { env });
  expect(res.exitCode === 0 || res.exitCode === 11, `${res.exitCode}: ${res.stderr}`).toBe(true);
  const report = JSON.parse(res.stdout);
  expect(report.healthy).toBe(res.exitCode === 0);
  return {
    code: res.exitCode,
    report,
    problems: (report.problems as string[]).join('\n'),
    warnings: (report.warnings as string[]).join('\n'),
  };
}

async function caughtUp(cluster: Cluster): Promise<void> {
  // Something to switch, so the switch adds a .ready file and wakes an archiver resting after failures.
  await cluster.query('SELECT txid_current()');
  const last = await cluster.switchWal();
  await cluster.waitArchived(last);
  await waitFor('no .ready file left', async () =>
    (await readdir(join(cluster.dataDir, 'pg_wal', 'archive_status'))).every((f) => !f.endsWith('.ready')),
  );
}

describe('pitr status, file:// repository', () => {
  let repo: RepoFixture;
  let cluster: Cluster;
  let env: Record<string, string>;

  beforeAll(async () => {
    repo = await fileRepo();
    ({ cluster, env } = await archivingCluster(repo));
    env = { ...env, PITR_BACKUP_WAL_TIMEOUT: '60', PITR_RETENTION_FULL: '2' };
    await cluster.query('CREATE TABLE t (id int)');
    await caughtUp(cluster);
  });
  afterAll(async () => {
    await cluster?.stop('immediate');
  });

  it('is unhealthy (11) with no backup, naming it, although archiving works', async () => {
    const { code, report, problems } = await status(env);
    expect(code).toBe(11);
    expect(problems).toContain('no backup at all');
    expect(report.problems).toHaveLength(1);
    expect(report.database.reachable).toBe(true);
    expect(report.database.archiver.failedCount).toBe(0);
  });

  it('is healthy (0) after a backup with archiving working; never verified and never restore-tested are shown, not unhealthy', async () => {
    const backup = await pitr(['backup'], { env });
    expect(backup.exitCode, backup.stderr).toBe(0);
    const { code, report } = await status(env);
    expect(report.problems).toEqual([]);
    expect(code).toBe(0);
    expect(report.lastVerify).toBeNull();
    expect(report.lastRestoreTest).toBeNull();
    expect(report.restorableWindow).not.toBeNull();
    expect(report.database.backlog.ready).toBe(0);
    const text = await pitr(['status'], { env });
    expect(text.stdout).toMatch(/last verify\s+never/);
    expect(text.stdout).toMatch(/restore test\s+never/);
    expect(text.stdout).toMatch(/status\s+healthy/);
  });

  it('warns when no retention rule is set, still healthy', async () => {
    const { PITR_RETENTION_FULL: _, ...noRule } = env;
    const { code, warnings } = await status(noRule);
    expect(code).toBe(0);
    expect(warnings).toContain('no retention rule');
  });

  it('is unhealthy when the last backup is older than PITR_ALERT_BACKUP_AGE', async () => {
    await new Promise((r) => setTimeout(r, 1500));
    const { code, problems } = await status({ ...env, PITR_ALERT_BACKUP_AGE: '1s' });
    expect(code).toBe(11);
    expect(problems).toMatch(/last backup \S+ ended .* older than PITR_ALERT_BACKUP_AGE \(1s\)/);
  });

  it('is unhealthy after a failed verify, healthy again after a passed one', async () => {
    const storage = await openStorage(loadConfig({}, { ...repo.env }));
    const run = { startedAt: new Date().toISOString(), finishedAt: new Date().toISOString(), scope: 'all', host: 'h' };
    await recordVerifyRun(storage, { ...run, result: 'failed', problems: 2, examples: ['wal/X damaged'] });
    const failed = await status(env);
    expect(failed.code).toBe(11);
    expect(failed.problems).toContain('last verify (all');
    expect(failed.problems).toContain('failed with 2 problem(s): wal/X damaged');
    await recordVerifyRun(storage, { ...run, result: 'passed', problems: 0, examples: [] });
    const passed = await status(env);
    expect(passed.code).toBe(0);
    expect(passed.report.lastVerify.result).toBe('passed');
  });

  it("without the database says so as a warning and judges the last archived WAL's age instead of the backlog's", async () => {
    const noDb = { ...repo.env, PITR_RETENTION_FULL: '2', PGHOST: '127.0.0.1', PGPORT: String(await freePort()) };
    const fresh = await status(noDb);
    expect(fresh.report.database.reachable).toBe(false);
    expect(fresh.warnings).toContain('database not reachable');
    expect(fresh.code).toBe(0);
    await new Promise((r) => setTimeout(r, 1100));
    const old = await status({ ...noDb, PITR_ALERT_ARCHIVE_AGE: '1s' });
    expect(old.code).toBe(11);
    expect(old.problems).toMatch(/last WAL archived \S+ at \S+, \d+s ago, longer than PITR_ALERT_ARCHIVE_AGE \(1s\)/);
    // With the database, the same threshold judges the .ready backlog, which is empty.
    const withDb = await status({ ...env, PITR_ALERT_ARCHIVE_AGE: '1s' });
    expect(withDb.report.problems).toEqual([]);
    expect(withDb.code).toBe(0);
  });

  it('names archiver failures and the .ready backlog while the repository refuses writes, healthy again once caught up', async () => {
    const walDir = join(repo.dir!, 'wal');
    const dirs = [walDir, ...(await readdir(walDir)).filter((d) => !d.includes('.')).map((d) => join(walDir, d))];
    for (const d of dirs) await chmod(d, 0o555);
    try {
      await cluster.query('INSERT INTO t VALUES (1)');
      await cluster.switchWal();
      await waitFor(
        'archive_command failures',
        async () => Number(await cluster.one<string>('SELECT failed_count::text FROM pg_stat_archiver')) >= 2,
      );
      await new Promise((r) => setTimeout(r, 1100));
      const { code, problems } = await status({ ...env, PITR_ALERT_ARCHIVE_AGE: '1s' });
      expect(code).toBe(11);
      expect(problems).toMatch(/archiving is failing: \d+ failure\(s\)/);
      expect(problems).toMatch(
        /1 WAL file\(s\) waiting to be archived \(\.ready\), the oldest \S+ for \d+s, longer than PITR_ALERT_ARCHIVE_AGE \(1s\)/,
      );
    } finally {
      for (const d of dirs) await chmod(d, 0o755);
    }
    await caughtUp(cluster);
    const { code, report } = await status(env);
    expect(report.problems).toEqual([]);
    expect(code).toBe(0);
  });

  it('names a gap in the restorable window: a pushed segment missing from the repository', async () => {
    const names: string[] = [];
    for (let i = 0; i < 3; i++) {
      await cluster.query('INSERT INTO t VALUES (2)');
      names.push(await cluster.switchWal());
    }
    await caughtUp(cluster);
    const victim = names[1]!;
    const key = join(repo.dir!, 'wal', victim.slice(0, 16), victim);
    const aside = join(await tempDir('aside'), victim);
    await copyFile(key, aside);
    await rm(key);
    try {
      const { code, report, problems } = await status(env);
      expect(code).toBe(11);
      expect(problems).toContain(`gap in the archived WAL: ${victim} missing from the repository, so a restore stops at ${names[0]}`);
      expect(report.walGap).toMatchObject({ missingFrom: victim, missingTo: victim, after: names[0] });
    } finally {
      await copyFile(aside, key);
    }
    expect((await status(env)).code).toBe(0);
  });
  it('names a backup whose own WAL is not all in the repository: nothing can be restored from it', async () => {
    const { backups } = JSON.parse((await pitr(['list', '--json'], { env })).stdout);
    const b = backups.at(-1);
    const key = join(repo.dir!, 'wal', b.stopWal.slice(0, 16), b.stopWal);
    const aside = join(await tempDir('aside'), b.stopWal);
    await copyFile(key, aside);
    await rm(key);
    try {
      const { code, report, problems } = await status(env);
      expect(code).toBe(11);
      expect(problems).toContain(
        `backup(s) that cannot be restored, their own WAL not all archived: ${b.id} (${b.stopWal} missing from the repository)`,
      );
      expect(report.restorableWindow).toBeNull();
    } finally {
      await copyFile(aside, key);
    }
    expect((await status(env)).code).toBe(0);
  });
});

describe('pitr status, S3 repository', () => {
  it('names the unreachable store, archiver failures and the backlog while S3 is down, healthy once back and caught up', async () => {
    const s3 = await S3Server.start();
    const repo = await s3Repo(s3);
    const cluster = await Cluster.create({ conf: archivingInto(repo) });
    await cluster.start();
    try {
      const env = {
        ...repo.env,
        ...cluster.libpqEnv,
        PITR_BACKUP_WAL_TIMEOUT: '60',
        PITR_RETENTION_FULL: '2',
        PITR_S3_MAX_ATTEMPTS: '1',
        PITR_S3_CONNECT_TIMEOUT_MS: '1000',
      };
      await cluster.query('CREATE TABLE t (id int)');
      await caughtUp(cluster);
      expect((await pitr(['backup'], { env })).exitCode).toBe(0);
      expect((await status(env)).code).toBe(0);

      await s3.stop();
      try {
        await cluster.query('INSERT INTO t VALUES (1)');
        await cluster.switchWal();
        await waitFor(
          'archive_command failures',
          async () => Number(await cluster.one<string>('SELECT failed_count::text FROM pg_stat_archiver')) >= 1,
        );
        await new Promise((r) => setTimeout(r, 1100));
        const { code, problems } = await status({ ...env, PITR_ALERT_ARCHIVE_AGE: '1s' });
        expect(code).toBe(11);
        expect(problems).toContain(`repository ${repo.env.PITR_REPO}`);
        expect(problems).toContain('cannot be read');
        // What the store holds is unknown, not "none".
        const text = await pitr(['status'], { env });
        expect(text.stdout).toMatch(/cluster\s+unknown \(the repository cannot be read\)/);
        expect(text.stdout).not.toMatch(/last backup|not bound/);
        expect(problems).toMatch(/archiving is failing/);
        expect(problems).toMatch(/WAL file\(s\) waiting to be archived/);
      } finally {
        await s3.restart();
      }
      await caughtUp(cluster);
      const { code, report } = await status(env);
      expect(report.problems).toEqual([]);
      expect(code).toBe(0);
    } finally {
      await cluster.stop('immediate');
      await s3.stop();
    }
  });
});
