// Prefetching restore_command: recovery through wal-fetch takes most segments from the spool
// the resident prefetcher fills, served by bin/pitr without Node; the spool is gone once
// recovery is over; and the spool never hands over a file whose identity is not the one
// vouched for, nor a half-written download.
import { copyFile, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { invocationFingerprint } from '../../src/launcher/fingerprint.js';
import { bootId } from '../../src/os/boot-id.js';
import { stableIdentity } from '../../src/os/file-identity.js';
import { digest, pitr, tempDir, waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, fileRepo, s3Repo, type RepoFixture } from '../support/repos.js';
import { backupThenBurst, recoverCopy } from '../support/burst.js';
import { useS3Store } from '../support/s3.js';
import { makeSegments, type SegmentSource } from '../support/segments.js';

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

  it('replays mostly from the spool, served by the launcher, and removes the spool at the end', async () => {
    const { backupDir } = await backupThenBurst(primary);
    copy = await recoverCopy(backupDir, repo.restoreCommand);
    const restored = copy;
    expect(await restored.one<string>('SELECT count(*)::text FROM t')).toBe(String(30 * 500));

    const log = await restored.log();
    const served = log.split('\n').filter((l) => l.includes('restored (prefetched)') && l.includes('"via":"bin/pitr"')).length;
    expect(served).toBeGreaterThan(10);
    expect(log).not.toMatch(/FATAL|PANIC/);
    // Promotion asks for a history file the spool does not hold, then archiving starts: the spool goes.
    const root = join(backupDir, 'pg_wal', 'pitr', 'prefetch');
    await waitFor('the spool to be removed', async () => !existsSync(root) || (await readdir(root)).length === 0);
  });
});

/**
 * Three segments of a throwaway cluster, the first `archived` of them pushed into a new
 * file:// repository, and a data directory holding only that cluster's pg_control: what
 * restore_command sees, without a server.
 */
async function recoveryFixture(archived: number): Promise<{ source: SegmentSource; repo: RepoFixture; dir: string }> {
  const source = await makeSegments(3);
  const repo = await fileRepo();
  for (const path of source.segments.slice(0, archived)) expect((await pitr(['wal-push', path], { env: repo.env })).exitCode).toBe(0);
  const dir = await tempDir('datadir');
  await mkdir(join(dir, 'global'), { recursive: true });
  await copyFile(join(source.cluster.dataDir, 'global', 'pg_control'), join(dir, 'global', 'pg_control'));
  return { source, repo, dir };
}

/** The spool of calls made with the repository's environment and no flags. */
const spoolOf = (dir: string, repo: RepoFixture) =>
  join(dir, 'pg_wal', 'pitr', 'prefetch', invocationFingerprint([], { ...process.env, PITR_CONFIG: undefined, ...repo.env })!);

describe('the prefetch spool hands over only what it vouches for', () => {
  let source: SegmentSource;
  let repo: RepoFixture;
  let dir: string;
  let spool: string;
  const names = () => source.segments.map((p) => basename(p));

  beforeAll(async () => {
    ({ source, repo, dir } = await recoveryFixture(3));
    // The spool the launcher reads for calls made with exactly this environment.
    spool = spoolOf(dir, repo);
    await mkdir(spool, { recursive: true });
  });
  afterAll(async () => {
    await source?.cluster.stop('immediate');
  });
  // Prefetch off (not part of the fingerprint): no prefetcher tidies or refills the spool
  // behind the test's back, so what each call finds there is exactly what the test planted.
  const fetch = (name: string) =>
    // At info: the tests tell who answered (bin/pitr or Node) by the line it logs.
    pitr(['wal-fetch', name, join('pg_wal', 'RECOVERYXLOG')], {
      env: { ...repo.env, PITR_FETCH_PREFETCH: '0', PITR_LOG_LEVEL: 'info' },
      cwd: dir,
    });
  const fetched = async () => digest(await readFile(join(dir, 'pg_wal', 'RECOVERYXLOG')));
  // As the prefetcher does: the identity of a file that has been still for a clock tick.
  const vouch = async (name: string, boot = bootId()) =>
    writeFile(join(spool, `${name}.ok`), `${await stableIdentity(join(spool, name))} ${'0'.repeat(64)} ${boot}\n`);

  it('serves a vouched-for copy from the launcher (the control that it looks there)', async () => {
    const [name, path] = [names()[0]!, source.segments[0]!];
    await copyFile(path, join(spool, name));
    await vouch(name);
    const res = await fetch(name);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stderr).toContain('"via":"bin/pitr"');
    expect(await fetched()).toBe(digest(await readFile(path)));
    expect(existsSync(join(spool, name))).toBe(false);
  });

  // Each plants something in the spool under the name of segment i; the call must not take it
  // from there (no launcher answer) and must hand over the archived bytes instead.
  it.each([
    [
      'a copy changed after it was vouched for',
      1,
      async (name: string) => {
        await writeFile(join(spool, name), Buffer.alloc(1024 * 1024, 1));
        await vouch(name);
        await writeFile(join(spool, name), Buffer.alloc(1024 * 1024, 2)); // damaged in place
      },
    ],
    [
      'a copy vouched for before the machine last booted (it was never fsynced)',
      0,
      async (name: string, path: string) => {
        await copyFile(path, join(spool, name));
        await vouch(name, '00000000-0000-0000-0000-000000000000');
      },
    ],
    [
      'a half-written download',
      2,
      async (name: string) => {
        await writeFile(join(spool, `.${name}.fetching`), Buffer.alloc(1000, 3));
        await writeFile(join(spool, name), Buffer.alloc(1000, 3)); // no .ok: not vouched for
      },
    ],
  ] as const)('refuses %s and fetches the archived file instead', async (_what, i, plant) => {
    const [name, path] = [names()[i]!, source.segments[i]!];
    await plant(name, path);
    const res = await fetch(name);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stderr).not.toContain('"via":"bin/pitr"');
    expect(await fetched()).toBe(digest(await readFile(path)));
  });
});

describe('the live prefetcher answers what the spool does not hold', () => {
  let source: SegmentSource;
  let repo: RepoFixture;
  let dir: string;
  const names = () => source.segments.map((p) => basename(p));

  beforeAll(async () => {
    ({ source, repo, dir } = await recoveryFixture(2));
    // In archive recovery from a base backup: the prefetcher stays while the server
    // (postmaster.pid) and recovery.signal are there.
    await mkdir(join(dir, 'pg_wal'));
    await writeFile(join(dir, 'postmaster.pid'), `${process.pid}\n`);
    await writeFile(join(dir, 'recovery.signal'), '');
    await writeFile(join(dir, 'backup_label'), `START WAL LOCATION: 0/1000028 (file ${names()[0]})\nCHECKPOINT LOCATION: 0/1000060\n`);
  });
  afterAll(async () => {
    await source?.cluster.stop('immediate');
  });
  const fetch = (name: string) =>
    pitr(['wal-fetch', name, join('pg_wal', 'RECOVERYXLOG')], { env: { ...repo.env, PITR_LOG_LEVEL: 'debug' }, cwd: dir });
  const viaLauncher = (res: { stderr: string }) => res.stderr.includes('"via":"bin/pitr"');
  /** Whether the last restored file holds segment `i`, byte for byte. */
  const restoredIs = async (i: number) =>
    digest(await readFile(join(dir, 'pg_wal', 'RECOVERYXLOG'))) === digest(await readFile(source.segments[i]!));

  it('is started by the first call, and looks a file up when asked: "not archived" at once, found once archived', async () => {
    const [first, second, third] = names();
    // Recovery's first call, for a history file: bin/pitr starts the prefetcher itself and
    // asks it, so no Node process of its own answers.
    const history = await pitr(['wal-fetch', '00000002.history', join('pg_wal', 'RECOVERYHISTORY')], {
      env: { ...repo.env, PITR_LOG_LEVEL: 'debug' },
      cwd: dir,
    });
    expect(history.exitCode, history.stderr).toBe(1);
    expect(history.stderr).toMatch(/"via":"bin\/pitr".*not in the repository/);
    // The prefetcher plans from backup_label on: the first segment is on its way already.
    const start = await fetch(first!);
    expect(start.exitCode, start.stderr).toBe(0);
    expect(viaLauncher(start), start.stderr).toBe(true);
    expect(await restoredIs(0)).toBe(true);
    const spool = spoolOf(dir, repo);
    await waitFor('the prefetcher to hold the next segment', async () => existsSync(join(spool, `${second}.ok`)));
    const next = await fetch(second!);
    expect(next.exitCode, next.stderr).toBe(0);
    expect(viaLauncher(next), next.stderr).toBe(true);
    expect(await restoredIs(1)).toBe(true);

    const absent = await fetch(third!);
    expect(absent.exitCode, absent.stderr).toBe(1);
    expect(absent.stderr).toMatch(/"via":"bin\/pitr".*not in the repository/);

    // Archived since: the next ask must not be answered from what the prefetcher saw before.
    expect((await pitr(['wal-push', source.segments[2]!], { env: repo.env })).exitCode).toBe(0);
    const found = await fetch(third!);
    expect(found.exitCode, found.stderr).toBe(0);
    expect(viaLauncher(found), found.stderr).toBe(true);
    expect(await restoredIs(2)).toBe(true);

    // Asked for again (PostgreSQL rereads the last segment as recovery ends): fetched anew.
    const again = await fetch(third!);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(viaLauncher(again), again.stderr).toBe(true);
    expect(await restoredIs(2)).toBe(true);
  });

  it('drops a plan recovery has passed: a call for that segment is answered, not kept waiting', async () => {
    const [first] = names();
    const spool = spoolOf(dir, repo);
    // Left by a prefetcher that read .wanted just before a call moved it on: a plan behind
    // recovery, which nobody will carry out. Recovery's end asks for the last segment again.
    await writeFile(join(spool, `.plan.${first}`), '');
    const again = await fetch(first!);
    expect(again.exitCode, again.stderr).toBe(0);
    expect(viaLauncher(again), again.stderr).toBe(true);
    expect(await restoredIs(0)).toBe(true);
    expect(existsSync(join(spool, `.plan.${first}`))).toBe(false);
  }, 20_000);

  it('removes its spool once recovery is over', async () => {
    const root = join(dir, 'pg_wal', 'pitr', 'prefetch');
    expect((await readdir(root)).length).toBe(1);
    await rm(join(dir, 'recovery.signal'));
    await waitFor('the spool to be removed', async () => (await readdir(root)).length === 0, 30_000);
  });
});

describe('bin/pitr starts no prefetcher where the configuration turns prefetching off', () => {
  it('leaves the call to Node, which marks the spool off, and later calls see the mark', async () => {
    const { source, repo, dir } = await recoveryFixture(1);
    try {
      await mkdir(join(dir, 'pg_wal'));
      await writeFile(join(dir, 'postmaster.pid'), `${process.pid}\n`);
      const config = join(dir, 'pitr.env');
      await writeFile(config, 'PITR_FETCH_PREFETCH=0\n');
      const env = { ...repo.env, PITR_CONFIG: config, PITR_LOG_LEVEL: 'debug' };
      const name = basename(source.segments[0]!);
      const spool = join(dir, 'pg_wal', 'pitr', 'prefetch', invocationFingerprint([], { ...process.env, ...env })!);
      for (let call = 1; call <= 2; call++) {
        const res = await pitr(['wal-fetch', name, join('pg_wal', 'RECOVERYXLOG')], { env, cwd: dir });
        expect(res.exitCode, res.stderr).toBe(0);
        expect(res.stderr).not.toContain('"via":"bin/pitr"');
        expect(digest(await readFile(join(dir, 'pg_wal', 'RECOVERYXLOG')))).toBe(digest(await readFile(source.segments[0]!)));
        expect(existsSync(join(spool, '.off')), `call ${call}`).toBe(true);
        expect(existsSync(join(spool, '.prefetcher.pid'))).toBe(false);
      }
    } finally {
      await source.cluster.stop('immediate');
    }
  });
});
