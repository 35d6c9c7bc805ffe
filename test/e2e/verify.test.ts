// pitr verify against a real cluster archiving through bin/pitr and a real backup, in both
// repository kinds: a clean repository passes and the run is recorded; each kind of damage
// (a flipped byte, a cut-off object, a missing segment, a missing or altered backup) is
// found and named, exit 12; --backup limits the reading; --json's shape.
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { existsSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pitr, waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { loadConfig } from '../../src/config/config.js';
import { readBackupVerifications, readLastVerifyRun } from '../../src/repository/verify-results.js';
import { openStorage } from '../../src/storage/open.js';
import { archivingInto, fileRepo, readStored, s3Repo, writeStored, type RepoFixture } from '../support/repos.js';
import { restoreStarted } from '../support/restores.js';
import { useS3Store } from '../support/s3.js';

const s3 = useS3Store();

const walKey = (name: string) => `wal/${name.slice(0, 16)}/${name}`;

describe.each(['file', 's3'] as const)('pitr verify on a %s repository', (kind) => {
  let repo: RepoFixture;
  let cluster: Cluster;
  let env: Record<string, string>;
  let backup: { id: string; startWal: string; stopWal: string; files: { key: string }[] };
  /** A segment archived after the backup ended: outside its WAL, inside the window's. */
  let later: string;
  const verify = (...args: string[]) => pitr(['verify', ...args], { env });
  /** The repository as pitr opens it, to read what verify recorded (the AWS SDK reads credentials from this process's environment). */
  const storage = () => {
    for (const [k, v] of Object.entries(repo.env)) if (k.startsWith('AWS_')) process.env[k] = v;
    return openStorage(loadConfig({}, { ...repo.env }));
  };

  /** Replaces a stored object for the length of `run`, then puts the original back. */
  async function damaged(key: string, change: ((bytes: Buffer) => Buffer) | 'remove', run: () => Promise<void>): Promise<void> {
    const original = (await readStored(repo, s3(), key))!;
    expect(original, key).not.toBeNull();
    if (change === 'remove') await removeStored(key);
    else await writeStored(repo, s3(), key, change(Buffer.from(original)));
    try {
      await run();
    } finally {
      await writeStored(repo, s3(), key, original);
    }
  }
  async function removeStored(key: string): Promise<void> {
    if (repo.kind === 'file') await rm(join(repo.dir!, key));
    else
      await s3()
        .client()
        .send(new DeleteObjectCommand({ Bucket: repo.bucket, Key: `main/${key}` }));
  }
  const flipLastByte = (b: Buffer) => {
    b[b.length - 1]! ^= 0xff;
    return b;
  };

  beforeAll(async () => {
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3());
    cluster = await Cluster.create({ conf: archivingInto(repo) });
    await cluster.start();
    env = { ...repo.env, ...cluster.libpqEnv, PITR_BACKUP_WAL_TIMEOUT: '60' };
    await cluster.query('CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 100000) g');
    const res = await pitr(['backup', '--json'], { env });
    expect(res.exitCode, res.stderr).toBe(0);
    backup = JSON.parse(res.stdout);
    await cluster.query('INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 50000) g');
    later = await cluster.switchWal();
    await cluster.query('INSERT INTO t SELECT g, md5(g::text) FROM generate_series(1, 1000) g');
    const newest = await cluster.switchWal();
    await waitFor(`${newest} archived`, async () => (await readStored(repo, s3(), walKey(newest))) !== null);
  }, 180_000);
  afterAll(async () => {
    await cluster?.stop('immediate');
  });

  it('passes a clean repository, exit 0, and records the run and each backup', async () => {
    const res = await verify();
    expect(res.exitCode, res.stdout + res.stderr).toBe(0);
    expect(res.stdout).toMatch(/verify passed/);
    expect(res.stdout).toContain(`backup ${backup.id}: passed`);
    const run = await readLastVerifyRun(await storage());
    expect(run).toMatchObject({ scope: 'all', result: 'passed', problems: 0, examples: [] });
    expect((await readBackupVerifications(await storage())).get(backup.id)).toMatchObject({ result: 'passed', problems: 0 });
    const listed = await pitr(['list', '--json'], { env });
    expect(JSON.parse(listed.stdout).backups[0].verified).toEqual({ at: expect.any(String), result: 'passed', problems: 0 });
    expect((await pitr(['list'], { env })).stdout).toMatch(new RegExp(`${backup.id} .*verified \\d{4}-\\d\\d-\\d\\d.*: passed`));
  });

  it('--json: the report with every object read and no problems', async () => {
    const res = await verify('--json');
    expect(res.exitCode, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout);
    expect(report).toMatchObject({
      scope: 'all',
      result: 'passed',
      problems: [],
      thinned: [],
      backups: [{ id: backup.id, result: 'passed', problems: 0 }],
    });
    expect(report.repository).toEqual(expect.any(String));
    expect(report.objects.checked).toBeGreaterThanOrEqual(4); // the backup, its segments, the .backup file, later ones
    expect(report.objects.bytes).toBeGreaterThan(0);
    expect(Date.parse(report.finishedAt)).toBeGreaterThanOrEqual(Date.parse(report.startedAt));
  });

  it('names a WAL object with a flipped byte, exit 12; --backup of a backup that does not need it passes', async () => {
    await damaged(walKey(later), flipLastByte, async () => {
      const res = await verify('--json');
      expect(res.exitCode, res.stderr).toBe(12);
      const report = JSON.parse(res.stdout);
      expect(report.result).toBe('failed');
      expect(report.problems).toEqual([expect.objectContaining({ kind: 'damaged', object: walKey(later) })]);
      expect(report.problems[0].message).toContain('SHA-256');
      expect((await readLastVerifyRun(await storage()))!).toMatchObject({ result: 'failed', problems: 1 });

      const one = await verify('--backup', backup.id);
      expect(one.exitCode, one.stdout + one.stderr).toBe(0);
      expect(one.stdout).not.toContain(later);
      expect(await readLastVerifyRun(await storage())).toMatchObject({ scope: `backup ${backup.id}`, result: 'passed' });
    });
  });

  it("--backup reads that backup's own WAL: a flipped byte in its first segment fails it", async () => {
    await damaged(walKey(backup.startWal), flipLastByte, async () => {
      const res = await verify('--backup', backup.id);
      expect(res.exitCode, res.stdout).toBe(12);
      expect(res.stdout).toContain(walKey(backup.startWal));
      expect(res.stdout).toContain(`backup ${backup.id}: failed`);
      expect((await readBackupVerifications(await storage())).get(backup.id)).toMatchObject({ result: 'failed' });
      expect(JSON.parse((await pitr(['list', '--json'], { env })).stdout).backups[0].verified).toMatchObject({ result: 'failed' });
    });
    expect((await verify('--backup', 'no-such-backup')).exitCode).toBe(1);
  });

  it('names a cut-off WAL object, exit 12', async () => {
    await damaged(
      walKey(later),
      (b) => b.subarray(0, b.length >> 1),
      async () => {
        const res = await verify('--json');
        expect(res.exitCode, res.stderr).toBe(12);
        expect(JSON.parse(res.stdout).problems).toEqual([expect.objectContaining({ kind: 'incomplete', object: walKey(later) })]);
      },
    );
  });

  it("names a missing segment inside a backup's WAL as a gap, exit 12", async () => {
    await damaged(walKey(backup.startWal), 'remove', async () => {
      const res = await verify('--json');
      expect(res.exitCode, res.stderr).toBe(12);
      const { problems, backups } = JSON.parse(res.stdout);
      expect(problems).toContainEqual(expect.objectContaining({ kind: 'gap', from: backup.startWal, backups: [backup.id] }));
      expect(backups).toEqual([expect.objectContaining({ id: backup.id, result: 'failed' })]);
      const human = await verify();
      expect(human.exitCode).toBe(12);
      expect(human.stdout).toMatch(new RegExp(`GAP: WAL ${backup.startWal} \\.\\. `));
    });
  });

  it('names a backup whose stored object is missing, exit 12', async () => {
    const key = backup.files[0]!.key;
    await damaged(key, 'remove', async () => {
      const res = await verify('--json');
      expect(res.exitCode, res.stderr).toBe(12);
      expect(JSON.parse(res.stdout).problems).toEqual([expect.objectContaining({ kind: 'missing', object: key })]);
    });
  });

  it("names a backup's truncated stored object, exit 12", async () => {
    const key = backup.files[0]!.key;
    await damaged(
      key,
      (b) => b.subarray(0, b.length - 1000),
      async () => {
        const res = await verify('--json', '--backup', backup.id);
        expect(res.exitCode, res.stderr).toBe(12);
        expect(JSON.parse(res.stdout).problems).toEqual([
          expect.objectContaining({ kind: 'incomplete', object: key, message: expect.stringContaining('truncated') }),
        ]);
      },
    );
  });

  it("names a backup's stored object with a flipped byte, exit 12", async () => {
    const key = backup.files[0]!.key;
    await damaged(
      key,
      (b) => {
        b[b.length >> 1]! ^= 0x01;
        return b;
      },
      async () => {
        const res = await verify();
        expect(res.exitCode, res.stdout).toBe(12);
        expect(res.stdout).toContain('DAMAGED: ');
        expect(res.stdout).toContain(key);
        expect(res.stdout).toContain(`backup ${backup.id}: failed`);
      },
    );
    // Put back, all is well again.
    expect((await verify()).exitCode).toBe(0);
  });
});

describe('pitr verify across a timeline switch (file://)', () => {
  const started: Cluster[] = [];
  afterAll(async () => {
    for (const server of started) await server.stop('immediate');
  });

  it("follows the history file to the new timeline's newest segment and names a gap on it; the old timeline's WAL after the fork is no gap", async () => {
    const repo = await fileRepo();
    const primary = await Cluster.create({ conf: archivingInto(repo) });
    started.push(primary);
    await primary.start();
    const env = { ...repo.env, ...primary.libpqEnv, PITR_BACKUP_WAL_TIMEOUT: '60' };
    await primary.query('CREATE TABLE marks (id int)');
    expect((await pitr(['backup'], { env })).exitCode).toBe(0);
    await primary.waitArchived(await primary.switchWal());

    // A copy restored and promoted as the new primary (timeline 2), archiving into the same repository.
    const { server: copy } = await restoreStarted(['--config', repo.configFile], ['--latest', '--archive-mode', 'preserve']);
    started.push(copy);
    const onTwo: string[] = [];
    for (let i = 0; i < 3; i++) {
      await copy.query('INSERT INTO marks VALUES (1)');
      onTwo.push(await copy.switchWal());
    }
    await copy.waitArchived(onTwo.at(-1)!);
    await waitFor('00000002.history archived', async () => existsSync(join(repo.dir!, 'wal', '00000002.history')));
    // The old primary keeps writing on timeline 1: a branch no restore --latest follows.
    await primary.query('INSERT INTO marks VALUES (2)');
    await primary.waitArchived(await primary.switchWal());
    expect(onTwo.every((n) => n.startsWith('00000002'))).toBe(true);

    const clean = await pitr(['verify', '--json'], { env: repo.env });
    expect(clean.exitCode, clean.stdout + clean.stderr).toBe(0);
    expect(JSON.parse(clean.stdout)).toMatchObject({ result: 'passed', problems: [] });

    const gone = onTwo[1]!;
    await rm(join(repo.dir!, walKey(gone)));
    const res = await pitr(['verify', '--json'], { env: repo.env });
    expect(res.exitCode, res.stderr).toBe(12);
    expect(JSON.parse(res.stdout).problems).toEqual([expect.objectContaining({ kind: 'gap', from: gone, to: gone, segments: 1 })]);
  });
});
