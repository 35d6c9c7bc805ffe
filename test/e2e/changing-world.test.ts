// The world changes under a running archiver: the configuration (an AWS config file's
// endpoint, named in the environment or in pitr's config file), the repository at the same
// URL (replaced by a new one), a file's clock (an mtime years ahead). Every answer PostgreSQL
// gets must hold for the world its next call sees: a segment reported archived is in the
// repository that call would use. (An unmounted volume: store-faults.test.ts.)
import { CreateBucketCommand } from '@aws-sdk/client-s3';
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, utimes, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pushWalFile } from '../../src/archive/push.js';
import { StorageUnavailableError } from '../../src/errors.js';
import { processAlive } from '../../src/os/process.js';
import { IDENTITY_KEY } from '../../src/repository/layout.js';
import { FileStorage } from '../../src/storage/file.js';
import { digest, giveToPostgres, pitr, tempDir, waitFor, type PitrResult } from '../../tools/harness/env.js';
import { S3Server } from '../../tools/harness/s3.js';
import { archiverGone, archiverPid, fakeDataDir, records } from '../support/data-dir.js';
import { fileRepo } from '../support/repos.js';
import { makeSegments, type SegmentSource } from '../support/segments.js';

let source: SegmentSource;
beforeAll(async () => {
  source = await makeSegments(8);
});
afterAll(async () => {
  await source?.cluster.stop('immediate');
});
const names = () => source.segments.map((p) => basename(p));

/** PostgreSQL's call for one file, then the .done it marks on success. */
async function pgPush(dir: string, name: string, args: string[], env: Record<string, string | undefined>): Promise<PitrResult> {
  // At info: the tests tell who answered (bin/pitr or Node) by the line it logs.
  const res = await pitr([...args, 'wal-push', join('pg_wal', name)], { env: { PITR_LOG_LEVEL: 'info', ...env }, cwd: dir });
  if (res.exitCode === 0) await rm(join(dir, 'pg_wal', 'archive_status', `${name}.ready`));
  return res;
}

/** The first call stores its file and starts the archiver; returns once every other file is recorded ahead. */
async function archiveAhead(dir: string, args: string[], env: Record<string, string>): Promise<number> {
  const first = await pgPush(dir, names()[0]!, args, env);
  expect(first.exitCode, first.stderr).toBe(0);
  await waitFor('records of every file ahead', async () => (await records(dir)).length === names().length - 1);
  return archiverPid(dir);
}

describe('the AWS config file changes under a running archiver', () => {
  let storeA: S3Server;
  let storeB: S3Server;
  beforeAll(async () => {
    [storeA, storeB] = await Promise.all([S3Server.start(), S3Server.start()]);
    // The same bucket on both: only the endpoint, read from the AWS config file, tells them apart.
    for (const store of [storeA, storeB]) await store.client().send(new CreateBucketCommand({ Bucket: 'pitr-world' }));
  });
  afterAll(async () => {
    await Promise.all([storeA?.stop(), storeB?.stop()]);
  });

  const storedIn = async (store: S3Server, name: string) => {
    const res = await pitr(['wal-fetch', name, join(await tempDir('fetched'), name)], {
      env: {
        PITR_REPO: 's3://pitr-world/main',
        PITR_S3_ENDPOINT: store.endpoint,
        PITR_S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
      },
    });
    return res.exitCode === 0;
  };

  it.each(['the environment', "pitr's config file"])(
    'names it in %s: every file PostgreSQL calls for after the change goes to the new endpoint',
    async (where) => {
      const dir = await fakeDataDir(source, { serverRuns: true });
      const awsConfig = join(await tempDir('aws'), 'config');
      const point = async (store: S3Server) => {
        await writeFile(awsConfig, `[default]\nendpoint_url = ${store.endpoint}\n`);
        await giveToPostgres(awsConfig);
      };
      await point(storeA);
      const settings = {
        PITR_REPO: 's3://pitr-world/main',
        PITR_S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
      };
      const configFile = join(await tempDir('conf'), 'pitr.env');
      const fileText = Object.entries(where === 'the environment' ? settings : { ...settings, AWS_CONFIG_FILE: awsConfig });
      await writeFile(configFile, fileText.map(([k, v]) => `${k}=${v}\n`).join(''));
      await giveToPostgres(configFile);
      const env: Record<string, string> = where === 'the environment' ? { AWS_CONFIG_FILE: awsConfig } : {};
      const args = ['--config', configFile];
      // Both repositories belong to this cluster (B bound by hand, as a new repository is).
      for (const store of [storeB, storeA]) {
        await point(store);
        const init = await pitr([...args, 'init', '--pgdata', source.cluster.dataDir], { env });
        expect(init.exitCode, init.stderr).toBe(0);
      }

      const archiver = await archiveAhead(dir, args, env);
      expect(await storedIn(storeA, names()[5]!)).toBe(true); // stored ahead, in A
      // The control: with nothing changed, the launcher answers from a record.
      const taken = await pgPush(dir, names()[1]!, args, env);
      expect(taken.stderr).toContain('"via":"bin/pitr"');
      await point(storeB);
      for (const name of names().slice(2)) {
        const res = await pgPush(dir, name, args, env);
        expect(res.exitCode, res.stderr).toBe(0);
        // The old records are not taken (later ones may be the new archiver's, made for B).
        if (name === names()[2]) expect(res.stderr).not.toContain('"via":"bin/pitr"');
        expect(await storedIn(storeB, name), `${name} in the store PostgreSQL's call was configured for`).toBe(true);
      }
      // The archiver noticed too, and stopped rather than store into A.
      await waitFor('the old archiver to stop', async () => !processAlive(archiver));
      await rm(join(dir, 'postmaster.pid'));
      await archiverGone(dir);
    },
  );
});

describe("the launcher's log", () => {
  it('says nothing when it answers from a record, unless asked for info', async () => {
    const repo = await fileRepo();
    const dir = await fakeDataDir(source, { serverRuns: true });
    await archiveAhead(dir, [], repo.env);
    const quiet = await pgPush(dir, names()[1]!, [], { ...repo.env, PITR_LOG_LEVEL: undefined });
    expect(quiet.exitCode, quiet.stderr).toBe(0);
    expect(quiet.stderr).toBe('');
    // The control: the next file, answered the same way, at info.
    expect((await pgPush(dir, names()[2]!, [], repo.env)).stderr).toContain('"via":"bin/pitr"');
  });
});

describe('the repository at the same URL is replaced', () => {
  it('records made for the old one answer nothing, and every file reaches the new one', async () => {
    const repo = await fileRepo();
    const dir = await fakeDataDir(source, { serverRuns: true });
    await archiveAhead(dir, [], repo.env);
    // The control: with nothing changed, the launcher answers from a record.
    expect((await pgPush(dir, names()[1]!, [], repo.env)).stderr).toContain('"via":"bin/pitr"');
    // archive_command paused, the repository swapped for a new one, bound to the same cluster.
    await rename(repo.dir!, `${repo.dir}.old`);
    await mkdir(repo.dir!);
    await giveToPostgres(repo.dir!);
    const init = await pitr(['init', '--pgdata', source.cluster.dataDir], { env: repo.env });
    expect(init.exitCode, init.stderr).toBe(0);
    for (const name of names().slice(2)) {
      const res = await pgPush(dir, name, [], repo.env);
      expect(res.exitCode, res.stderr).toBe(0);
      if (name === names()[2]) expect(res.stderr).not.toContain('"via":"bin/pitr"');
    }
    const out = await tempDir('fetched');
    for (const [i, name] of names().entries()) {
      if (i < 2) continue; // archived before the swap: in the old repository only
      const res = await pitr(['wal-fetch', name, join(out, name)], { env: repo.env });
      expect(res.exitCode, `${name} in the new repository: ${res.stderr}`).toBe(0);
      expect(digest(await readFile(join(out, name)))).toBe(digest(await readFile(source.segments[i]!)));
    }
    await rm(join(dir, 'postmaster.pid'));
    await archiverGone(dir);
  });

  it('records of an archiver that died answer nothing either', async () => {
    const repo = await fileRepo();
    const dir = await fakeDataDir(source, { serverRuns: true });
    const archiver = await archiveAhead(dir, [], repo.env);
    process.kill(archiver, 'SIGKILL');
    await waitFor('the archiver to die', async () => !processAlive(archiver));
    await rename(repo.dir!, `${repo.dir}.old`);
    await mkdir(repo.dir!);
    await giveToPostgres(repo.dir!);
    expect((await pitr(['init', '--pgdata', source.cluster.dataDir], { env: repo.env })).exitCode).toBe(0);
    const res = await pgPush(dir, names()[1]!, [], repo.env);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stderr).not.toContain('"via":"bin/pitr"');
    expect(existsSync(join(repo.dir!, 'wal', names()[1]!.slice(0, 16), names()[1]!))).toBe(true);
    await rm(join(dir, 'postmaster.pid'));
  });
});

describe('a clock that says the file changes in the future', () => {
  it('archives a segment whose mtime is years ahead at once', { timeout: 30_000 }, async () => {
    const repo = await fileRepo();
    const dir = await fakeDataDir(source);
    const path = join(dir, 'pg_wal', names()[0]!);
    const future = new Date(Date.now() + 10 * 365 * 86_400_000);
    await utimes(path, future, future);
    // Before: the push waited for the mtime to pass, ten years (the test's timeout says so).
    const res = await pgPush(dir, names()[0]!, ['--archive-lookahead', '0'], repo.env);
    expect(res.exitCode, res.stderr).toBe(0);
  });
});

describe('a copy of the repository takes its place (the same id: rsync, a snapshot, a replica)', () => {
  it('records of the archiver before it answer nothing', async () => {
    const repo = await fileRepo();
    const dir = await fakeDataDir(source, { serverRuns: true });
    const archiverA = await archiveAhead(dir, [], repo.env);
    // A copy taken before the files from the fourth on were stored, swapped in for the volume.
    execFileSync('cp', ['-a', repo.dir!, `${repo.dir}.copy`]);
    for (const n of names().slice(3)) await rm(join(`${repo.dir}.copy`, 'wal', n.slice(0, 16), n));
    await rename(repo.dir!, `${repo.dir}.old`);
    await rename(`${repo.dir}.copy`, repo.dir!);
    await waitFor('archiver A to stop', async () => !processAlive(archiverA));
    // PostgreSQL's next call reaches Node, stores its file in the copy, and starts archiver B.
    expect((await pgPush(dir, names()[1]!, [], repo.env)).exitCode).toBe(0);
    await waitFor("archiver B's stamp", async () => existsSync(join(dir, 'pg_wal', 'pitr', 'archived', '.repository')));
    // Before: A's record of the fourth file answered, with B's stamp; the copy does not hold it.
    const res = await pgPush(dir, names()[3]!, [], repo.env);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(existsSync(join(repo.dir!, 'wal', names()[3]!.slice(0, 16), names()[3]!))).toBe(true);
    await rm(join(dir, 'postmaster.pid'));
    await archiverGone(dir);
  });
});

describe('the repository volume is unmounted in the middle of a push', () => {
  it('fails the push and writes nothing into the bare mount point', async () => {
    const repo = await fileRepo();
    const dir = await fakeDataDir(source);
    expect((await pgPush(dir, names()[0]!, ['--archive-lookahead', '0'], repo.env)).exitCode).toBe(0);
    // Unmounted right after the push has read the repository's identity.
    const real = await FileStorage.open(repo.dir!, false);
    const storage = Object.assign(Object.create(real) as FileStorage, {
      get: async (key: string) => {
        const out = await real.get(key);
        if (key === IDENTITY_KEY) {
          await rename(repo.dir!, `${repo.dir}.volume`);
          await mkdir(repo.dir!);
        }
        return out;
      },
    });
    // Before: 'stored', into the mount point.
    await expect(pushWalFile(join(dir, 'pg_wal', names()[1]!), { storage, compression: 'lz4', dataDir: dir })).rejects.toBeInstanceOf(
      StorageUnavailableError,
    );
    expect(await readdir(repo.dir!)).toEqual([]);
  });
});
