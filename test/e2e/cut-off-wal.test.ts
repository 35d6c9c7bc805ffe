// A cut-off object in an S3 repository: s3rver, like some S3-compatible stores, keeps the part
// of a PutObject that arrived before a killed wal-push died, under the real key. It must not
// count as archived anywhere: list shows it as a gap and ends the restorable window before it,
// a restore that needs it is refused before anything is written, and a backup waits for a
// whole copy of every segment it needs.
import { HeadObjectCommand } from '@aws-sdk/client-s3';
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { giveToPostgres, pitr, PITR_BIN, tempDir, waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, readStored, s3Repo, writeStored, type RepoFixture } from '../support/repos.js';
import { useS3Store } from '../support/s3.js';

const s3 = useS3Store();
const segKey = (name: string) => `wal/${name.slice(0, 16)}/${name}`;
const list = async (repo: RepoFixture) => {
  const res = await pitr(['list', '--json'], { env: repo.env });
  expect(res.exitCode, res.stderr).toBe(0);
  return JSON.parse(res.stdout);
};

describe('a cut-off object in an S3 repository', () => {
  let repo: RepoFixture;
  let primary: Cluster;
  /** Three segments archived after the backup; the middle one is cut off. */
  const after: string[] = [];
  let cut = '';

  beforeAll(async () => {
    repo = await s3Repo(s3(), { keepsCutOffUploads: true });
    primary = await Cluster.create({ conf: archivingInto(repo) });
    await primary.start();
    await primary.query('CREATE TABLE t (id int)');
    const backup = await pitr(['backup'], { env: { ...repo.env, ...primary.libpqEnv } });
    expect(backup.exitCode, backup.stderr).toBe(0);
    for (let i = 0; i < 3; i++) {
      await primary.query('INSERT INTO t SELECT generate_series(1, 1000)');
      after.push(await primary.switchWal());
    }
    await primary.waitArchived(after[2]!);
    // What an interrupted upload leaves: the first part of the object, under its real key.
    cut = after[1]!;
    const whole = (await readStored(repo, s3(), segKey(cut)))!;
    await writeStored(repo, s3(), segKey(cut), whole.subarray(0, whole.length >> 1));
  });
  afterAll(async () => {
    await primary?.stop('immediate');
  });

  it('list names it, counts it as a gap, and ends the restorable window before it', async () => {
    const { wal, backups, restorableWindow } = await list(repo);
    expect(wal[0].incomplete).toEqual([cut]);
    expect(wal[0].gaps).toEqual([{ from: cut, to: cut, missing: 1 }]);
    expect(wal[0].last).toBe(after[2]);
    expect(backups[0].walComplete).toBe(true); // its own WAL is before the cut
    expect(restorableWindow.lastWal).toBe(after[0]);
    const head = await s3()
      .client()
      .send(new HeadObjectCommand({ Bucket: repo.bucket, Key: `main/${segKey(after[0]!)}` }));
    // It ends at the last transaction in that segment (the INSERT after the backup), archived before it was stored.
    expect(restorableWindow).toMatchObject({ end: 'last-transaction', lastTransaction: { wal: after[0] } });
    expect(restorableWindow.to).toBe(restorableWindow.lastTransaction.time);
    expect(new Date(restorableWindow.to).getTime()).toBeLessThanOrEqual(head.LastModified!.getTime() + 1000);

    // On a store that keeps only whole uploads (the default, as AWS S3) the listing is trusted: no header is read.
    const trusting = JSON.parse((await pitr(['list', '--json', '--s3-atomic-writes', 'true'], { env: repo.env })).stdout);
    expect(trusting.wal[0].incomplete).toEqual([]);

    const text = await pitr(['list'], { env: repo.env });
    expect(text.stdout).toContain(`missing ${cut} .. ${cut}`);
    expect(text.stdout).toContain(`incomplete ${cut}: cut off by an interrupted upload`);
    expect(text.stdout).toContain(`WAL through ${after[0]})`);
  });

  it('a restore that needs it is refused before anything is written; a target before it is restored', async () => {
    const dir = join(await tempDir('restore'), 'data');
    await mkdir(dir);
    await giveToPostgres(dir);
    const res = await pitr(['--config', repo.configFile, 'restore', '--target-dir', dir, '--latest']);
    expect(res.exitCode).toBe(1);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain(`archived ${cut} in s3://${repo.bucket}/main/ is cut off:`);
    expect(res.stderr).toContain('push it again from pg_wal if it is still there');
    expect(res.stderr).toContain('or choose an earlier target');
    expect(await readdir(dir)).toEqual([]);

    // The backup's own WAL lies before the cut: --immediate needs nothing more, and works.
    const immediate = await pitr(['--config', repo.configFile, 'restore', '--target-dir', dir, '--immediate']);
    expect(immediate.exitCode, immediate.stderr).toBe(0);
    expect(existsSync(join(dir, 'recovery.signal'))).toBe(true);
  });

  it('a backup waits for a whole copy of each segment it needs, and takes it once pushed again', async () => {
    const other = await s3Repo(s3(), { keepsCutOffUploads: true });
    // Every segment's push is killed mid-upload and reported archived all the same (as a
    // store that lost the end of an upload acknowledged would); .backup and .history files
    // are pushed normally. The repository is bound first: a killed push must not cut that.
    const cutting = `PITR_TEST_CRASH=mid-write ${other.archiveCommand}; true`;
    const cluster = await Cluster.create({
      conf: {
        archive_mode: 'on',
        archive_command: `'case %f in *.backup|*.history) PITR_ARCHIVE_LOOKAHEAD=0 ${other.archiveCommand} ;; *) ${cutting} ;; esac'`,
      },
    });
    try {
      expect((await pitr(['init', '--pgdata', cluster.dataDir], { env: other.env })).exitCode).toBe(0);
      await cluster.start();
      const backup = execa(PITR_BIN, ['backup', '--json'], {
        env: { ...other.env, ...cluster.libpqEnv, PITR_BACKUP_WAL_TIMEOUT: '120' },
        reject: false,
      });
      let stderr = '';
      backup.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const ended = backup.then((r) =>
        Promise.reject(new Error(`the backup ended (exit ${r.exitCode}) without waiting for its WAL: ${r.stdout}`)),
      );
      ended.catch(() => undefined); // read by the race only: once the backup waits, its end is expected
      const waiting = await Promise.race([
        waitFor('the backup to wait for its WAL', async () => /waiting for WAL up to ([0-9A-F]{24}) to be archived/.exec(stderr)?.[1]),
        ended,
      ]);
      expect(backup.exitCode).toBeNull(); // still waiting: the cut-off segment does not count
      const { wal } = await list(other);
      expect(wal[0].incomplete).toContain(waiting);

      // Pushed again from pg_wal, as PostgreSQL's retry or the operator would: the backup completes.
      for (const name of wal[0].incomplete as string[]) {
        if (!existsSync(join(cluster.dataDir, 'pg_wal', name))) continue; // recycled already, and not needed
        const again = await pitr(['wal-push', `pg_wal/${name}`], { env: other.env, cwd: cluster.dataDir, asPostgres: true });
        expect(again.exitCode, again.stderr).toBe(0);
        expect(again.stderr).toContain('replacing an incomplete copy');
      }
      const done = await backup;
      expect(done.exitCode, done.stderr).toBe(0);
      expect(JSON.parse(done.stdout).stopWal).toBe(waiting);
      expect((await list(other)).backups).toHaveLength(1);
    } finally {
      await cluster.stop('immediate');
    }
  });
});
