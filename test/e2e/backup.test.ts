// pitr backup against a real server and both repository kinds: what it stores, what list
// shows, one backup at a time, a backup killed mid-stream, and the refusals.
import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { mkdir, readdir, utimes, writeFile } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { giveToPostgres, pitr, tempDir } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, fileRepo, readStored, s3Repo, writeStored, type RepoFixture } from '../support/repos.js';
import { useS3Store } from '../support/s3.js';

const s3 = useS3Store();

/** The stored object is a standard LZ4 stream: the lz4 command line reads it, as an operator would. */
async function decompress(stored: Buffer): Promise<Buffer> {
  return (await execa('lz4', ['-d', '-c'], { input: stored, encoding: 'buffer' })).stdout as unknown as Buffer;
}

describe.each(['file', 's3'] as const)('pitr backup into a %s repository', (kind) => {
  let repo: RepoFixture;
  let cluster: Cluster;
  let env: Record<string, string>;
  const backup = (extra: Record<string, string> = {}) => pitr(['backup'], { env: { ...env, ...extra } });
  const list = async () => JSON.parse((await pitr(['list', '--json'], { env })).stdout);

  beforeAll(async () => {
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3());
    cluster = await Cluster.create({ conf: archivingInto(repo) });
    await cluster.start();
    env = { ...repo.env, ...cluster.libpqEnv, PITR_BACKUP_WAL_TIMEOUT: '60' };
    await cluster.query('CREATE TABLE t AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g');
  });
  afterAll(async () => {
    await cluster?.stop('immediate');
  });

  it('stores a compressed tar of the data directory, then a manifest, and list shows it restorable', async () => {
    const res = await backup();
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/^backup \S+: .* MiB in .* s/);

    const { backups, restorableWindow } = await list();
    expect(backups).toHaveLength(1);
    const m = backups[0];
    expect(m).toMatchObject({ timeline: 1, walComplete: true, pgVersion: 15 });
    expect(m.systemIdentifier).toBe(await cluster.one<string>('SELECT system_identifier::text FROM pg_control_system()'));
    expect(restorableWindow.from).toBe(m.stopTime);
    // The backup's last segment can be stored before its recorded (rounded-up) stop: the window never inverts.
    expect(new Date(restorableWindow.to).getTime()).toBeGreaterThanOrEqual(new Date(restorableWindow.from).getTime());
    expect(new Date(m.stopTime).getTime()).toBeGreaterThanOrEqual(new Date(m.startTime).getTime());
    const status = JSON.parse((await pitr(['status', '--json'], { env })).stdout);
    expect(status.lastBackup).toMatchObject({ id: m.id, stopTime: m.stopTime });

    const file = m.files[0];
    const stored = (await readStored(repo, s3(), file.key))!;
    expect(stored.length).toBe(file.storedSize);
    expect(createHash('sha256').update(stored).digest('hex')).toBe(file.storedSha256);
    const tar = await decompress(stored);
    expect(Math.abs(tar.length - file.size)).toBeLessThan(1024 * 1024); // pg_basebackup counts in kB, and not the tar's padding
    const members = (await execa('tar', ['-t'], { input: tar })).stdout.split('\n');
    expect(members[0]).toBe('backup_label');
    expect(members).toEqual(expect.arrayContaining(['PG_VERSION', 'global/pg_control', 'backup_manifest']));
  });

  it("refuses a second backup while one holds the lock, and takes over a dead holder's lock", async () => {
    const before = (await list()).backups.length;
    const lock = {
      id: 'other',
      pid: process.pid,
      host: hostname(),
      startedAt: new Date().toISOString(),
      heartbeatAt: new Date().toISOString(),
    };
    await writeStored(repo, s3(), 'locks/backup.json', Buffer.from(JSON.stringify(lock)));
    const refused = await backup();
    expect(refused.exitCode).toBe(7);
    expect(refused.stderr).toContain('one backup at a time');

    const dead = spawnSync('true');
    await writeStored(repo, s3(), 'locks/backup.json', Buffer.from(JSON.stringify({ ...lock, pid: dead.pid })));
    const taken = await backup();
    expect(taken.exitCode, taken.stderr).toBe(0);
    expect((await list()).backups.length).toBe(before + 1);
  });

  it('leaves no visible backup when killed mid-stream, and the next backup succeeds', async () => {
    const before = (await list()).backups.length;
    const killed = await backup({ PITR_TEST_CRASH: 'mid-stream' });
    expect(killed.signal).toBe('SIGKILL');
    expect((await list()).backups.length).toBe(before);
    // On file:// the killed write left its temporary file (over 1 MiB): aged past the minute
    // that protects a dead writer's file, the next backup removes it.
    const leftovers = async () => (await readdir(join(repo.dir!, 'backups'), { recursive: true })).filter((p) => p.endsWith('.tmp'));
    if (kind === 'file') {
      const [temp] = await leftovers();
      expect(temp).toBeDefined();
      const old = new Date(Date.now() - 2 * 60_000);
      await utimes(join(repo.dir!, 'backups', temp!), old, old);
    }

    const next = await backup();
    expect(next.exitCode, next.stderr).toBe(0);
    expect((await list()).backups.length).toBe(before + 1);
    if (kind === 'file') expect(await leftovers()).toEqual([]);
  });
});

/** A fresh file repository and a running server (archiving into it, unless told not to) for one test. */
async function withServer(archiving: boolean, run: (repo: RepoFixture, cluster: Cluster) => Promise<void>): Promise<void> {
  const repo = await fileRepo();
  const cluster = await Cluster.create(archiving ? { conf: archivingInto(repo) } : {});
  await cluster.start();
  try {
    await run(repo, cluster);
  } finally {
    await cluster.stop('immediate');
  }
}

describe('finding the server', () => {
  it('reaches a server on another port than 5432 through its data directory when PGHOST and PGPORT are unset', async () => {
    const repo = await fileRepo();
    // A socket directory of its own, as a packaged server has (/var/run/postgresql): postmaster.pid's line 5.
    const sockets = await tempDir('sockets');
    const cluster = await Cluster.create({ conf: { ...archivingInto(repo), unix_socket_directories: `'${sockets}'` } });
    await cluster.start();
    try {
      expect(cluster.port).not.toBe(5432);
      const env = {
        ...repo.env,
        PGUSER: 'postgres',
        PGDATABASE: 'postgres',
        PGHOST: undefined,
        PGPORT: undefined,
        PITR_BACKUP_WAL_TIMEOUT: '60',
      };
      const res = await pitr(['backup', '--pgdata', cluster.dataDir, '--json'], { env });
      expect(res.exitCode, res.stderr).toBe(0);
      const manifest = JSON.parse(res.stdout);
      expect(manifest.systemIdentifier).toBe(await cluster.one<string>('SELECT system_identifier::text FROM pg_control_system()'));
    } finally {
      await cluster.stop('immediate');
    }
  });
});

describe('backup refusals', () => {
  it('refuses a server that does not archive WAL', () =>
    withServer(false, async (repo, cluster) => {
      const res = await pitr(['backup'], { env: { ...repo.env, ...cluster.libpqEnv } });
      expect(res.exitCode).toBe(8);
      expect(res.stderr).toContain('archive_mode is off');
    }));

  it('refuses a cluster with an extra tablespace, clearly', () =>
    withServer(true, async (repo, cluster) => {
      const dir = join(await tempDir('tblspc'), 'space');
      await mkdir(dir);
      await giveToPostgres(dir);
      await cluster.query(`CREATE TABLESPACE extra LOCATION '${dir}'`);
      const res = await pitr(['backup'], { env: { ...repo.env, ...cluster.libpqEnv } });
      expect(res.exitCode).toBe(8);
      expect(res.stderr).toContain('tablespaces extra are not supported');
      expect(JSON.parse((await pitr(['list', '--json'], { env: repo.env })).stdout).backups).toEqual([]);
    }));

  it('fails cleanly, without hanging, when the repository cannot take the upload', () =>
    withServer(true, async (repo, cluster) => {
      // A file where the backups directory belongs: every write under it fails.
      await writeFile(join(repo.dir!, 'backups'), 'not a directory');
      const res = await pitr(['backup'], { env: { ...repo.env, ...cluster.libpqEnv } });
      expect(res.exitCode).toBe(9);
      expect(res.stderr).toContain('backups');
    }));

  it('removes the data of a backup whose WAL never reaches the repository', async () => {
    const repo = await fileRepo();
    // PostgreSQL believes it archives, but nothing reaches pitr's repository.
    const cluster = await Cluster.create({ conf: { archive_mode: 'on', archive_command: "'true'" } });
    await cluster.start();
    try {
      const res = await pitr(['backup'], { env: { ...repo.env, ...cluster.libpqEnv, PITR_BACKUP_WAL_TIMEOUT: '2' } });
      expect(res.exitCode).toBe(8);
      expect(res.stderr).toContain('was not archived within 2 s');
      const files = (await readdir(join(repo.dir!, 'backups'), { recursive: true, withFileTypes: true })).filter((e) => e.isFile());
      expect(files.map((f) => f.name)).toEqual([]);
    } finally {
      await cluster.stop('immediate');
    }
  });

  it('reports an unreachable database with the settings to fix', async () => {
    const repo = await fileRepo();
    await writeFile(join(repo.dir!, '.keep'), '');
    const res = await pitr(['backup'], { env: { ...repo.env, PGHOST: '127.0.0.1', PGPORT: '1', PGUSER: 'postgres' } });
    expect(res.exitCode).toBe(8);
    expect(res.stderr).toContain('cannot connect to the database');
  });
});
