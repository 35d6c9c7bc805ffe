// Faults of the store and of the set-up: the store goes away while PostgreSQL archives, an
// endpoint that never answers, a standby, an unwritable repository, bad configuration.
import { chmod, mkdir, mkdtemp, readdir, rename, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AS_ROOT, freePort, giveToPostgres, pitr, tempDir, waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, fileRepo, s3Repo, type RepoFixture } from '../support/repos.js';
import { S3Server } from '../../tools/harness/s3.js';
import { makeSegments, type SegmentSource } from '../support/segments.js';

let source: SegmentSource;
beforeAll(async () => {
  source = await makeSegments(1);
});
afterAll(async () => {
  await source?.cluster.stop('immediate');
});

/** Archives under failure: PostgreSQL retries, and once the store is back nothing is missing. */
async function archiveThroughOutage(
  repo: RepoFixture,
  takeDown: () => Promise<void>,
  bringBack: () => Promise<void>,
  whileDown: (cluster: Cluster) => Promise<void> = async () => undefined,
): Promise<void> {
  const cluster = await Cluster.create({ conf: archivingInto(repo) });
  await cluster.start();
  try {
    await cluster.query('CREATE TABLE t (id int)');
    const first = await cluster.switchWal();
    await cluster.waitArchived(first);

    await takeDown();
    const during: string[] = [];
    for (let i = 0; i < 4; i++) {
      await cluster.query('INSERT INTO t VALUES ($1)', [i]);
      during.push(await cluster.switchWal());
    }
    await waitFor(
      'archive_command failures',
      async () => Number(await cluster.one<string>('SELECT failed_count::text FROM pg_stat_archiver')) >= 2,
    );
    // Nothing was reported archived while the store was away.
    expect(await cluster.one<string>('SELECT last_archived_wal FROM pg_stat_archiver')).toBe(first);
    expect(await cluster.log()).toMatch(/archive command failed with exit code [359]/);
    await whileDown(cluster);

    await bringBack();
    await cluster.waitArchived(during.at(-1)!);

    // Every segment from the first to the last is in the repository, and fetches intact.
    const fetchDir = await tempDir('fetch');
    for (const name of [first, ...during]) {
      const res = await pitr(['wal-fetch', name, join(fetchDir, name)], { env: repo.env, cwd: cluster.dataDir });
      expect(res.exitCode, `${name}: ${res.stderr}`).toBe(0);
    }
    expect((await readdir(fetchDir)).sort()).toEqual([first, ...during].sort());
  } finally {
    await cluster.stop('immediate');
  }
}

describe('the store goes away while PostgreSQL archives', () => {
  it('S3: archiving fails while s3rver is down, then catches up with no segment missing', async () => {
    const s3 = await S3Server.start();
    try {
      const repo = await s3Repo(s3);
      await archiveThroughOutage(
        repo,
        () => s3.stop(),
        () => s3.restart(),
      );
    } finally {
      await s3.stop();
    }
  });

  it('file://: archiving fails while the repository volume is gone, then catches up', async () => {
    const repo = await fileRepo();
    // Renaming the directory away is what an unmounted volume looks like: pitr must not
    // recreate it and archive into the mount point.
    await archiveThroughOutage(
      repo,
      () => rename(repo.dir!, `${repo.dir}.away`),
      () => rename(`${repo.dir}.away`, repo.dir!),
    );
  });

  it('file://: a bare mount point left by an unmounted volume is never bound nor written to', async () => {
    const repo = await fileRepo();
    const unmount = async () => {
      await rename(repo.dir!, `${repo.dir}.volume`);
      await mkdir(repo.dir!);
      await giveToPostgres(repo.dir!);
    };
    const mount = async () => {
      await rm(repo.dir!, { recursive: true });
      await rename(`${repo.dir}.volume`, repo.dir!);
    };
    await archiveThroughOutage(repo, unmount, mount, async (cluster) => {
      // Before: the first push bound the mount point as a new repository and archived into it.
      expect(await readdir(repo.dir!)).toEqual([]);
      expect(await cluster.log()).toMatch(/is empty, but this cluster has archived into .* before .*pitr init/);
    });
  });
});

describe('unreachable S3 endpoint', () => {
  it('fails wal-push with exit 5 and wal-fetch above 125, but reads as not-found on a standby', async () => {
    const dead = `http://127.0.0.1:${await freePort()}`;
    const env = {
      PITR_REPO: 's3://nowhere/x',
      PITR_S3_ENDPOINT: dead,
      PITR_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: 'k',
      AWS_SECRET_ACCESS_KEY: 's',
    };
    const push = await pitr(['wal-push', source.segments[0]!], { env });
    expect(push.exitCode).toBe(5);
    expect(push.stderr).toContain('cannot reach');
    expect(push.stderr).not.toContain('AWS_SECRET_ACCESS_KEY=s');

    const work = await tempDir('standby');
    const fetch = await pitr(['wal-fetch', basename(source.segments[0]!), join(work, 'RECOVERYXLOG')], { env, cwd: work });
    expect(fetch.exitCode).toBe(205);
    await writeFile(join(work, 'standby.signal'), '');
    const onStandby = await pitr(['wal-fetch', basename(source.segments[0]!), join(work, 'RECOVERYXLOG')], { env, cwd: work });
    expect(onStandby.exitCode).toBe(1);
    expect(await readdir(work)).toEqual(['standby.signal']);
  });
});

describe('an endpoint that accepts connections but never answers', () => {
  it('times out and fails with exit 5 instead of hanging', async () => {
    const silent = createServer(() => {});
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as { port: number };
    try {
      const res = await pitr(['wal-push', source.segments[0]!], {
        env: {
          PITR_REPO: 's3://silent/x',
          PITR_S3_ENDPOINT: `http://127.0.0.1:${port}`,
          PITR_S3_FORCE_PATH_STYLE: 'true',
          PITR_S3_REQUEST_TIMEOUT_MS: '300',
          PITR_S3_MAX_ATTEMPTS: '2',
          AWS_ACCESS_KEY_ID: 'k',
          AWS_SECRET_ACCESS_KEY: 's',
        },
      });
      expect(res.exitCode).toBe(5);
      expect(res.stderr).toContain('cannot reach');
    } finally {
      silent.close();
    }
  });
});

describe('local faults', () => {
  it('an unwritable repository fails with exit 9 and names the path', async () => {
    // Root ignores permissions, so as root the write is attempted as the postgres user
    // (who runs archive_command) against a root-owned directory.
    const dir = join(await tempDir('ro'), 'repo');
    await mkdir(dir, { mode: 0o755 });
    if (!AS_ROOT) await chmod(dir, 0o555);
    const res = await pitr(['--repo', `file://${dir}`, 'wal-push', source.segments[0]!], { asPostgres: AS_ROOT });
    expect(res.exitCode).toBe(9);
    expect(res.stderr).toContain('permission denied');
    expect(res.stderr).toContain(dir);
    expect(await readdir(dir)).toEqual([]);
  });

  it('wal-fetch into a missing directory exits above 125 and leaves nothing behind', async () => {
    const repo = await fileRepo();
    expect((await pitr(['wal-push', source.segments[0]!], { env: repo.env })).exitCode).toBe(0);
    const res = await pitr(['wal-fetch', basename(source.segments[0]!), '/nonexistent-dir/RECOVERYXLOG'], { env: repo.env });
    expect(res.exitCode).toBe(208);
    expect(res.stderr).toContain('/nonexistent-dir/RECOVERYXLOG');
  });
});

describe('bad configuration: one line naming the key, exit 2', () => {
  const cases: [string, string[], Record<string, string>, string][] = [
    ['no repository at all', ['status'], {}, 'PITR_REPO'],
    ['a repository URL of unknown scheme', ['--repo', 'ftp://host/x', 'status'], {}, 'PITR_REPO'],
    ['a relative file:// path', ['status'], { PITR_REPO: 'file://relative/path' }, 'absolute path'],
    ['an unknown compression', ['status'], { PITR_REPO: 'file:///tmp', PITR_COMPRESS: 'gzip' }, 'PITR_COMPRESS'],
    ['a bad log level', ['status'], { PITR_REPO: 'file:///tmp', PITR_LOG_LEVEL: 'loud' }, 'PITR_LOG_LEVEL'],
    ['a bad boolean', ['status'], { PITR_REPO: 's3://bucket/x', PITR_S3_FORCE_PATH_STYLE: 'maybe' }, 'PITR_S3_FORCE_PATH_STYLE'],
    ['a missing config file', ['--config', '/nonexistent/pitr.env', 'status'], {}, '/nonexistent/pitr.env'],
  ];
  it.each(cases)('%s', async (_, args, env, expected) => {
    const res = await pitr(args, { env });
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain(expected);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('an unknown key in the config file', async () => {
    const dir = await tempDir('conf');
    await writeFile(join(dir, 'pitr.env'), 'PITR_REPO=file:///tmp\nPITR_REOP=typo\n');
    const res = await pitr(['--config', join(dir, 'pitr.env'), 'status']);
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain('PITR_REOP');
  });

  it('the same rules on the wal-push hot path', async () => {
    const res = await pitr(['wal-push', source.segments[0]!], { env: { PITR_REPO: 'file:///tmp', PITR_COMPRESS: 'zip' } });
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain('PITR_COMPRESS');
  });
});

describe('ownership', () => {
  it.runIf(AS_ROOT)('files written by root in a postgres-owned repository stay usable by archive_command', async () => {
    const repo = await fileRepo(); // owned by postgres
    const init = await pitr(['init', '--pgdata', source.cluster.dataDir], { env: repo.env }); // as root
    expect(init.exitCode, init.stderr).toBe(0);
    const push = await pitr(['wal-push', source.segments[0]!], { env: repo.env, asPostgres: true, cwd: source.cluster.dataDir });
    expect(push.exitCode, push.stderr).toBe(0);
  });

  it.runIf(AS_ROOT)(
    "a repository directory init creates as root belongs to the data directory's owner, whose server archives into it",
    async () => {
      // Under a root-owned parent, as /tmp or /srv: every directory on the way is init's to create.
      const parent = await mkdtemp(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-root-'));
      await chmod(parent, 0o755);
      const repo = await fileRepo(join(parent, 'x', 'new', 'repo'));
      const cluster = await Cluster.create({ conf: archivingInto(repo) });
      await cluster.start();
      try {
        const init = await pitr(['init', '--pgdata', cluster.dataDir], { env: repo.env }); // as root
        expect(init.exitCode, init.stderr).toBe(0);
        const segment = await cluster.switchWal();
        const archiver = await waitFor('the server to archive or fail', async () => {
          const [row] = await cluster.query<{ archived: number; failed: number; last: string | null }>(
            'SELECT archived_count::int AS archived, failed_count::int AS failed, last_archived_wal AS last FROM pg_stat_archiver',
          );
          return row!.archived + row!.failed > 0 && row;
        });
        expect(archiver).toEqual({ archived: 1, failed: 0, last: segment });
        // Every directory init made, not just the repository's own: the server's user must reach it.
        const owner = await stat(cluster.dataDir);
        for (const dir of ['x', 'x/new', 'x/new/repo'])
          expect(await stat(join(parent, dir))).toMatchObject({ uid: owner.uid, gid: owner.gid });
      } finally {
        await cluster.stop('immediate');
      }
    },
  );

  it.runIf(AS_ROOT)(
    'init as root refuses to create a repository directory no server could write, without a data directory to take the owner from',
    async () => {
      const parent = await mkdtemp(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-root-'));
      const res = await pitr(['init', '--repo', `file://${parent}/repo`], { env: source.cluster.libpqEnv });
      expect(res.exitCode).toBe(9);
      expect(res.stderr).toContain(`would create ${parent}/repo owned by root`);
      expect(await readdir(parent)).toEqual([]);
    },
  );
});
