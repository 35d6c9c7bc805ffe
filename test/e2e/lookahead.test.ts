// Look-ahead archiving under load and under faults: a burst of hundreds of segments archived
// by a real server, most calls answered by bin/pitr from the resident archiver's records, and
// every one fetched back byte for byte; an archiver killed half-way; a record that must not
// vouch for a different file or another repository; two pushers racing over the same files;
// the temporary files of killed pushes, removed when the archiver starts.
import { spawnSync } from 'node:child_process';
import { copyFile, readdir, readFile, rm, utimes, writeFile } from 'node:fs/promises';
import { pidSpace, processAlive } from '../../src/os/process.js';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest, pitr, tempDir, waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, fileRepo, s3Repo, type RepoFixture } from '../support/repos.js';
import { useS3Store } from '../support/s3.js';
import { archiverGone, archiverPid, fakeDataDir, records } from '../support/data-dir.js';
import { makeSegments, type SegmentSource } from '../support/segments.js';

const s3 = useS3Store();

/** Fetches every name back through wal-fetch, a few at a time, and returns name -> sha256. */
async function fetchAll(repo: RepoFixture, names: string[]): Promise<Map<string, string | null>> {
  const out = await tempDir('fetched');
  const digests = new Map<string, string | null>();
  for (let i = 0; i < names.length; i += 8) {
    await Promise.all(
      names.slice(i, i + 8).map(async (name) => {
        const res = await pitr(['wal-fetch', name, join(out, name)], { env: repo.env });
        expect(res.exitCode, `${name}: ${res.stderr}`).toBe(0);
        digests.set(name, digest(await readFile(join(out, name))));
      }),
    );
  }
  return digests;
}

describe.each([
  ['file', 200],
  ['s3', 60],
] as const)('a burst archived with look-ahead into a %s repository', (kind, count) => {
  let repo: RepoFixture;
  let server: Cluster;
  let copies: string;

  beforeAll(async () => {
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3());
    copies = await tempDir('copies');
    // 1 MiB segments: hundreds of real segments without gigabytes of disk. Every file
    // PostgreSQL archives is also copied aside, as the reference for the byte comparison.
    const conf = archivingInto(repo);
    server = await Cluster.create({
      initdbArgs: ['--wal-segsize=1'],
      conf: { ...conf, archive_command: `'cp %p ${copies}/%f && ${repo.archiveCommand}'` },
    });
    await server.start();
  });
  afterAll(async () => {
    await server?.stop('immediate');
  });

  it(`archives ${count} segments switched back to back, and every one comes back byte for byte`, async () => {
    await server.query('CREATE TABLE t (id int)');
    let last = '';
    for (let i = 0; i < count; i++) {
      await server.query('INSERT INTO t VALUES ($1)', [i]);
      last = await server.switchWal();
    }
    await server.waitArchived(last, 300_000);
    expect(await server.one<string>('SELECT failed_count::text FROM pg_stat_archiver')).toBe('0');
    // PostgreSQL's own calls found their files stored by the archiver, and the launcher
    // answered them without starting Node.
    const log = await server.log();
    const answered = log.split('\n').filter((l) => l.includes('"via":"bin/pitr"') && l.includes('archived earlier (look-ahead)')).length;
    expect(answered).toBeGreaterThan(count / 2);

    const names = (await readdir(copies)).filter((n) => /^[0-9A-F]{24}$/.test(n)).sort();
    expect(names.length).toBeGreaterThanOrEqual(count);
    const fetched = await fetchAll(repo, names);
    for (const name of names) expect(fetched.get(name), name).toBe(digest(await readFile(join(copies, name))));
  });
});

describe('look-ahead faults', () => {
  let source: SegmentSource;
  let other: SegmentSource;
  beforeAll(async () => {
    [source, other] = await Promise.all([makeSegments(8), makeSegments(4)]);
  });
  afterAll(async () => {
    await Promise.all([source?.cluster.stop('immediate'), other?.cluster.stop('immediate')]);
  });
  const names = () => source.segments.map((p) => basename(p));
  // At info: the tests tell who answered (bin/pitr or Node) by the line it logs.
  const push = (repo: RepoFixture, dir: string, name: string, env: Record<string, string> = {}) =>
    pitr(['wal-push', join('pg_wal', name)], { env: { PITR_LOG_LEVEL: 'info', ...repo.env, ...env }, cwd: dir });
  const stored = (repo: RepoFixture, name: string) => readFile(join(repo.dir!, 'wal', name.slice(0, 16), name)).catch(() => null);
  /** PostgreSQL's calls, in order, each followed by the .done it would mark. */
  const pushAll = async (repo: RepoFixture, dir: string) => {
    for (const name of names()) {
      const res = await push(repo, dir, name);
      expect(res.exitCode, `${name}: ${res.stderr}`).toBe(0);
      await rm(join(dir, 'pg_wal', 'archive_status', `${name}.ready`));
    }
  };

  it('an archiver killed half-way reports nothing stored that is not, and later calls are right', async () => {
    const repo = await fileRepo();
    const dir = await fakeDataDir(source);
    // The first call stores its file and starts the archiver, which drops every record it did
    // not write (the first call's too), finds the first file stored already, records it, and
    // dies after storing the next one, before recording it.
    const first = await push(repo, dir, names()[0]!, { PITR_TEST_CRASH: 'lookahead', PITR_ARCHIVE_CONCURRENCY: '1' });
    expect(first.exitCode, first.stderr).toBe(0);
    await waitFor('the archiver to die', async () => {
      const pid = await archiverPid(dir); // a killed archiver leaves its pid file behind
      return pid !== 0 && !processAlive(pid);
    });
    expect(await records(dir)).toEqual([names()[0]]);
    for (const name of await records(dir)) expect(await stored(repo, name)).not.toBeNull();
    expect(await stored(repo, names()[1]!)).not.toBeNull(); // stored, never recorded

    await pushAll(repo, dir);
    await archiverGone(dir);
    const fetched = await fetchAll(repo, names());
    for (const path of source.segments) expect(fetched.get(basename(path))).toBe(digest(await readFile(path)));
  });

  it('a record never vouches for a different file under the same name', async () => {
    const repo = await fileRepo();
    // A server "runs" here: records answer only while their archiver lives, and it stays while the server does.
    const dir = await fakeDataDir(source, { serverRuns: true });
    expect((await push(repo, dir, names()[0]!)).exitCode).toBe(0);
    const [target, genuine] = [names()[1]!, names()[2]!];
    await waitFor('records of the files ahead', async () => (await records(dir)).includes(genuine));
    // The control: the record of an untouched file is taken, by the launcher.
    const taken = await push(repo, dir, genuine);
    expect(taken.exitCode).toBe(0);
    expect(taken.stderr).toContain('"via":"bin/pitr"');
    // Another cluster's segment of the same name takes the target's place: the record must not count.
    const impostor = other.segments.find((p) => basename(p) === target)!;
    expect(impostor).toBeDefined();
    await copyFile(impostor, join(dir, 'pg_wal', target));
    const res = await push(repo, dir, target);
    expect(res.exitCode).not.toBe(0);
    expect(res.stderr).toMatch(/belongs to cluster|different content/);
    const [fetched] = (await fetchAll(repo, [target])).values();
    expect(fetched).toBe(digest(await readFile(source.segments[1]!)));
    await rm(join(dir, 'postmaster.pid'));
    await archiverGone(dir);
  });

  it('a record made for another repository is not taken there, and that archiver stops once unused', async () => {
    const [repoA, repoB] = [await fileRepo(), await fileRepo()];
    // A server "runs" here, so that the archiver does not stop as soon as it has nothing to do.
    const dir = await fakeDataDir(source, { serverRuns: true });
    expect((await push(repoA, dir, names()[0]!)).exitCode).toBe(0);
    await rm(join(dir, 'pg_wal', 'archive_status', `${names()[0]}.ready`));
    await waitFor('records in repository A', async () => (await records(dir)).includes(names()[7]!));
    const archiverA = await archiverPid(dir);
    expect(archiverA).toBeGreaterThan(0);
    // The configuration now points at B, bound by hand (this cluster archived before: a push
    // never binds an empty repository then). PostgreSQL calls for every remaining file.
    const init = await pitr(['init', '--pgdata', source.cluster.dataDir], { env: repoB.env });
    expect(init.exitCode, init.stderr).toBe(0);
    for (const name of names().slice(1)) {
      const res = await push(repoB, dir, name);
      expect(res.exitCode, res.stderr).toBe(0);
      // A's record is there, and must not answer for B (later files may be B's archiver's).
      if (name === names()[1]) expect(res.stderr).not.toContain('"via":"bin/pitr"');
      await rm(join(dir, 'pg_wal', 'archive_status', `${name}.ready`));
    }
    const fetched = await fetchAll(repoB, names().slice(1));
    for (const path of source.segments.slice(1)) expect(fetched.get(basename(path))).toBe(digest(await readFile(path)));
    // A's records went unused, file after file: its archiver has stopped by itself.
    await waitFor('the archiver of repository A to stop', async () => !processAlive(archiverA));
    await rm(join(dir, 'postmaster.pid'));
    await archiverGone(dir);
  });

  it('two pushers racing over the same files both succeed and store each file once, intact', async () => {
    const repo = await fileRepo();
    const dir = await fakeDataDir(source);
    const [a, b] = await Promise.all([push(repo, dir, names()[0]!), push(repo, dir, names()[1]!)]);
    expect(a.exitCode, a.stderr).toBe(0);
    expect(b.exitCode, b.stderr).toBe(0);
    await pushAll(repo, dir);
    await archiverGone(dir);
    const fetched = await fetchAll(repo, names());
    for (const path of source.segments) expect(fetched.get(basename(path))).toBe(digest(await readFile(path)));
  });

  it('the archiver removes the temporary files killed pushes left in the repository, and only those', async () => {
    const repo = await fileRepo();
    const dir = await fakeDataDir(source);
    // Bind the repository and store one object without starting an archiver.
    expect((await push(repo, dir, names()[0]!, { PITR_ARCHIVE_LOOKAHEAD: '0' })).exitCode).toBe(0);
    await rm(join(dir, 'pg_wal', 'archive_status', `${names()[0]}.ready`));
    const logDir = join(repo.dir!, 'wal', names()[0]!.slice(0, 16));
    const dead = spawnSync('true').pid!;
    const [here, elsewhere] = [pidSpace(), 'abcdef012345'];
    const [minutes, hours] = [2 * 60_000, 2 * 3_600_000];
    const plant = async (path: string, ageMs: number) => {
      await writeFile(path, Buffer.alloc(1000, 7));
      const at = new Date(Date.now() - ageMs);
      await utimes(path, at, at);
    };
    const seg = '0000000100000000000000F0';
    const stale = [
      join(logDir, `.${seg}.${here}.${dead}.00000001.tmp`), // this host, writer dead, 2 min old
      join(logDir, `.${seg}.${elsewhere}.${process.pid}.00000002.tmp`), // another host, 2 h old
      join(logDir, `.${seg}.${dead}.00000003.tmp`), // written before names carried the host, 2 h old
      join(repo.dir!, 'wal', `.00000002.history.${elsewhere}.${dead}.00000004.tmp`), // 2 h old
    ];
    const kept = [
      join(logDir, `.${seg}.${here}.${process.pid}.00000005.tmp`), // this host, writer alive
      join(logDir, `.${seg}.${here}.${dead}.00000006.tmp`), // this host, writer dead, just written
      join(logDir, `.${seg}.${elsewhere}.${dead}.00000007.tmp`), // another host, 2 min old
      join(logDir, `.${seg}.${dead}.00000008.tmp`), // the old format, 2 min old: whose pid is unknown
      join(logDir, '.keep'), // not a temporary file of pitr's
    ];
    for (const path of stale) await plant(path, path.includes(`.${here}.`) ? minutes : hours);
    for (const path of kept) await plant(path, path.endsWith('.keep') ? hours : path.includes('00000006') ? 0 : minutes);
    // Old, but objects: never touched.
    const objects = [join(repo.dir!, 'repository.json'), join(logDir, names()[0]!)];
    for (const path of objects) await utimes(path, new Date(Date.now() - hours), new Date(Date.now() - hours));
    const before = await Promise.all(objects.map(async (p) => digest(await readFile(p))));

    // PostgreSQL's next call starts the archiver, which sweeps wal/ beside its work.
    expect((await push(repo, dir, names()[1]!)).exitCode).toBe(0);
    await waitFor('the archiver to store the last file', async () => (await stored(repo, names()[7]!)) !== null);
    await archiverGone(dir); // it finishes its sweep before it exits
    const left = async (d: string) => (await readdir(d)).filter((n) => n.startsWith('.')).map((n) => join(d, n));
    expect([...(await left(logDir)), ...(await left(join(repo.dir!, 'wal')))].sort()).toEqual([...kept].sort());
    expect(await Promise.all(objects.map(async (p) => digest(await readFile(p))))).toEqual(before);
  });

  it('a push run by hand outside a data directory leaves nothing behind there', async () => {
    const repo = await fileRepo();
    const cwd = await tempDir('elsewhere');
    const res = await pitr(['wal-push', source.segments[0]!], { env: repo.env, cwd });
    expect(res.exitCode, res.stderr).toBe(0);
    expect(await readdir(cwd)).toEqual([]);
  });
});
