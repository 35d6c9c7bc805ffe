// Point-in-time restore end to end, with both repository kinds: marker rows with commit
// times, a backup, more writes; restores to a time, a restore point, a transaction, an LSN
// and the latest WAL, each checked row by row after PostgreSQL replays and promotes; then a
// restored server archives a new timeline into the same repository and a second restore
// follows the timeline switch from the original backup.
import { existsSync } from 'node:fs';
import { readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AS_ROOT, freePort, giveToPostgres, pitr, PITR_BIN, tempDir, waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, fileRepo, s3Repo, type RepoFixture } from '../support/repos.js';
import { useS3Store } from '../support/s3.js';

const s3 = useS3Store();

const NOW_UTC = "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'";

/** A new directory (not yet created) under a postgres-owned parent. */
async function newTarget(): Promise<string> {
  return join(await tempDir('restore'), 'data');
}

describe.each(['file', 's3'] as const)('pitr restore from a %s repository', (kind) => {
  let repo: RepoFixture;
  let primary: Cluster;
  const started: Cluster[] = [];
  const marks = { t1: '', xid: '', lsn: '' };

  /** Restores with --start on a free port; returns the running server. */
  async function restoreAndStart(args: string[]): Promise<{ server: Cluster; stdout: string }> {
    const port = await freePort();
    const dir = await newTarget();
    const res = await pitr(['--config', repo.configFile, 'restore', '--target-dir', dir, '--start', '--port', String(port), ...args]);
    expect(res.exitCode, res.stderr).toBe(0);
    const server = Cluster.existing(dir, port);
    started.push(server);
    return { server, stdout: res.stdout };
  }
  const ids = async (c: Cluster) => (await c.query<{ id: number }>('SELECT id FROM marks ORDER BY id')).map((r) => r.id);

  beforeAll(async () => {
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3());
    // track_commit_timestamp: the test reads the commit time PostgreSQL wrote in the commit record.
    primary = await Cluster.create({ conf: { ...archivingInto(repo), track_commit_timestamp: 'on' } });
    await primary.start();
    await primary.query('CREATE TABLE marks (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    await primary.query('INSERT INTO marks (id) VALUES (1)');
    const backup = await pitr(['backup'], { env: { ...repo.env, ...primary.libpqEnv } });
    expect(backup.exitCode, backup.stderr).toBe(0);

    await primary.query('INSERT INTO marks (id) VALUES (2)');
    marks.t1 = await primary.one<string>(NOW_UTC); // after 2 committed, before 3 commits
    await primary.query('INSERT INTO marks (id) VALUES (3)');
    await primary.query("SELECT pg_create_restore_point('before_4')");
    await primary.query('INSERT INTO marks (id) VALUES (4)');
    marks.xid = await primary.one<string>('INSERT INTO marks (id) VALUES (5) RETURNING pg_current_xact_id()::text');
    await primary.query('INSERT INTO marks (id) VALUES (6)');
    marks.lsn = await primary.one<string>('SELECT pg_current_wal_insert_lsn()::text');
    await primary.query('INSERT INTO marks (id) VALUES (7)');
    await primary.waitArchived(await primary.switchWal());
  });
  afterAll(async () => {
    for (const server of started) await server.stop('immediate');
    await primary?.stop('immediate');
  });

  it('restores to a time: exactly the rows committed by then', async () => {
    const { server, stdout } = await restoreAndStart(['--to', marks.t1, '--archive-mode', 'off']);
    expect(await ids(server)).toEqual([1, 2]);
    expect(stdout).toMatch(/server promoted to timeline \d+, accepting writes: recovery took [\d.]+ s/);
    expect(stdout).toMatch(/stopped: recovery stopping before commit of transaction \d+/);
    expect(stdout).toMatch(/last replayed transaction: \d{4}-\d{2}-\d{2} /);
  });

  it('restores to a restore point, a transaction and an LSN', async () => {
    const byName = await restoreAndStart(['--name', 'before_4', '--archive-mode', 'off']);
    expect(await ids(byName.server)).toEqual([1, 2, 3]);
    const byXid = await restoreAndStart(['--xid', marks.xid, '--archive-mode', 'off']);
    expect(await ids(byXid.server)).toEqual([1, 2, 3, 4, 5]);
    const byLsn = await restoreAndStart(['--lsn', marks.lsn, '--archive-mode', 'off']);
    expect(await ids(byLsn.server)).toEqual([1, 2, 3, 4, 5, 6]);
    const exclusiveXid = await restoreAndStart(['--xid', marks.xid, '--exclusive', '--archive-mode', 'off']);
    expect(await ids(exclusiveXid.server)).toEqual([1, 2, 3, 4]);
  });

  it('ends the window at the last transaction archived: a --to at or after it is refused before anything is written, one just before it restores', async () => {
    const committed7 = await primary.one<string>(
      `SELECT to_char(pg_xact_commit_timestamp(xmin) AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') FROM marks WHERE id = 7`,
    );
    // Newer WAL without a transaction (a checkpoint): archived after the last commit.
    const between = await primary.one<string>(NOW_UTC);
    await primary.query('CHECKPOINT');
    const newest = await primary.switchWal();
    await primary.waitArchived(newest);

    const listed = JSON.parse((await pitr(['list', '--json'], { env: repo.env })).stdout);
    expect(listed.restorableWindow).toMatchObject({ to: committed7, end: 'last-transaction', lastWal: newest });
    expect(listed.restorableWindow.lastTransaction.wal < newest).toBe(true);
    expect((await pitr(['list'], { env: repo.env })).stdout).toContain(
      `.. ${committed7} (exclusive: the last transaction archived ended then`,
    );

    // Between the last commit and the newest segment's archive time: PostgreSQL would replay
    // everything and fail at the end; pitr refuses it first, naming the window's end.
    // So is the last commit's own time: recovery stops a time only before a commit after it.
    const at7 = committed7.replace('T', ' ').replace('Z', '+00');
    for (const to of [between, at7]) {
      const dir = await newTarget();
      const refused = await pitr(['--config', repo.configFile, 'restore', '--target-dir', dir, '--to', to, '--start']);
      expect(refused.exitCode, refused.stderr).toBe(1);
      expect(refused.stderr).toContain(`is not before the last transaction archived in `);
      expect(refused.stderr).toContain(`, which ended ${committed7}`);
      expect(refused.stderr).toContain(`Restorable times run from ${listed.restorableWindow.from} to just before ${committed7}`);
      expect(existsSync(dir)).toBe(false);
    }

    // Just inside: everything but the last transaction; at it with --exclusive, the same.
    const justBefore = await primary.one<string>(
      `SELECT to_char((pg_xact_commit_timestamp(xmin) - interval '1 microsecond') AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' FROM marks WHERE id = 7`,
    );
    const inside = await restoreAndStart(['--to', justBefore, '--archive-mode', 'off']);
    expect(await ids(inside.server)).toEqual([1, 2, 3, 4, 5, 6]);
    const exclusive = await restoreAndStart(['--to', at7, '--exclusive', '--archive-mode', 'off']);
    expect(await ids(exclusive.server)).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('restores --latest without --start, prints how to start it, and writes the recovery settings', async () => {
    const dir = await newTarget();
    const port = await freePort();
    const args = ['restore', '--target-dir', dir, '--latest', '--port', String(port), '--archive-mode', 'preserve'];
    const res = await pitr(['--config', repo.configFile, ...args]);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toContain(`start it: `);
    expect(res.stdout).toContain(`pg_ctl -D ${dir}`);
    expect(existsSync(join(dir, 'recovery.signal'))).toBe(true);
    const auto = await readFile(join(dir, 'postgresql.auto.conf'), 'utf8');
    expect(auto).toContain(`restore_command = '${PITR_BIN} --config ${repo.configFile} --repo ${repo.env.PITR_REPO}`);
    expect(auto).not.toMatch(/AWS_SECRET|S3RVER|minio/i); // no credential is ever written

    // This one is the new primary (preserve): once promoted it pushes timeline 2 into the same repository.
    const restored = Cluster.existing(dir, port);
    started.push(restored);
    await restored.start();
    await restored.query('SELECT 1');
    expect(await ids(restored)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });

  it('follows a timeline switch: restores from the original backup to a time on the new timeline', async () => {
    const timeline2 = started.at(-1)!;
    await waitPromoted(timeline2);
    expect(await timeline2.one<number>('SELECT timeline_id FROM pg_control_checkpoint()')).toBe(2);
    await timeline2.query('INSERT INTO marks (id) VALUES (20)');
    const t2 = await timeline2.one<string>(NOW_UTC);
    await timeline2.query('INSERT INTO marks (id) VALUES (21)');
    await timeline2.waitArchived(await timeline2.switchWal());

    const listed = JSON.parse((await pitr(['list', '--json'], { env: repo.env })).stdout);
    expect(listed.wal.map((t: { timeline: number }) => t.timeline)).toEqual([1, 2]);

    const { server, stdout } = await restoreAndStart(['--to', t2, '--archive-mode', 'off']);
    expect(stdout).toContain('on timeline 2');
    expect(await ids(server)).toEqual([1, 2, 3, 4, 5, 6, 7, 20]);
    // --timeline current stays on the backup's timeline, where 20 never happened.
    const current = await restoreAndStart(['--latest', '--timeline', 'current', '--archive-mode', 'off']);
    expect(await ids(current.server)).toEqual([1, 2, 3, 4, 5, 6, 7]);
  });
});

/** After pg_ctl start the restored server may still be replaying; writes need it promoted. */
async function waitPromoted(c: Cluster): Promise<void> {
  await waitFor('promotion', async () => (await c.one<boolean>('SELECT NOT pg_is_in_recovery()')) === true, 120_000);
}

describe('restore refusals leave the target untouched', () => {
  let repo: RepoFixture;
  let primary: Cluster;
  let backupStop = '';
  const restore = (args: string[]) => pitr(['--config', repo.configFile, 'restore', ...args]);

  beforeAll(async () => {
    repo = await fileRepo();
    primary = await Cluster.create({ conf: archivingInto(repo) });
    await primary.start();
    const res = await pitr(['backup', '--json'], { env: { ...repo.env, ...primary.libpqEnv } });
    expect(res.exitCode, res.stderr).toBe(0);
    backupStop = JSON.parse(res.stdout).stopTime;
  });
  afterAll(async () => {
    await primary?.stop('immediate');
  });

  it('refuses a time before the first backup ended, and an ambiguous time', async () => {
    const empty = await newTarget();
    const { mkdir } = await import('node:fs/promises');
    await mkdir(empty);
    await giveToPostgres(empty);
    const before = new Date(new Date(backupStop).getTime() - 3_600_000).toISOString();
    const early = await restore(['--target-dir', empty, '--to', before]);
    expect(early.exitCode).toBe(8);
    expect(early.stderr).toContain('is before the end of the oldest backup');
    expect(await readdir(empty)).toEqual([]);

    const missing = await newTarget();
    const ambiguous = await restore(['--target-dir', missing, '--to', '2026-11-21 14:02:59']);
    expect(ambiguous.exitCode).toBe(2);
    expect(ambiguous.stderr).toContain('no time zone, so it is ambiguous');
    expect(existsSync(missing)).toBe(false);

    const two = await restore(['--target-dir', missing, '--latest', '--immediate']);
    expect(two.exitCode).toBe(2);
    expect(two.stderr).toContain('choose one recovery target');
    const unknown = await restore(['--target-dir', missing, '--latest', '--backup', '20200101T000000Z-dead']);
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr).toContain('backup 20200101T000000Z-dead is not in');
    expect(existsSync(missing)).toBe(false);
  });

  it('refuses a non-empty directory, and a running server even with --force', async () => {
    const dir = await newTarget();
    const { mkdir } = await import('node:fs/promises');
    await mkdir(dir);
    await writeFile(join(dir, 'keep.txt'), 'precious');
    const res = await restore(['--target-dir', dir, '--immediate']);
    expect(res.exitCode).toBe(8);
    expect(res.stderr).toContain('is not empty');
    expect(await readFile(join(dir, 'keep.txt'), 'utf8')).toBe('precious');

    const live = await restore(['--target-dir', primary.dataDir, '--immediate', '--force']);
    expect(live.exitCode).toBe(7);
    expect(live.stderr).toContain('is running in');
    expect(await primary.one<number>('SELECT 1')).toBe(1);
    expect(existsSync(join(primary.dataDir, 'recovery.signal'))).toBe(false);
  });

  it('refuses a target directory it could not create, before planning, naming the parent', async () => {
    // The postgres user cannot write here (nor can a non-root user, the directory being read-only).
    const parent = await tempDir('read-only');
    const { chmod, chown } = await import('node:fs/promises');
    if (AS_ROOT) await chown(parent, 0, 0);
    await chmod(parent, 0o555);
    const target = join(parent, 'data');
    const res = await pitr(['--config', repo.configFile, 'restore', '--target-dir', target, '--immediate'], { asPostgres: true });
    expect(res.exitCode, res.stderr).toBe(8);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain(`its parent ${parent} is not writable`);
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a target the archived WAL cannot reach, and a gap in the WAL', async () => {
    // Nothing was archived after this time: the WAL that reaches it does not exist yet.
    await primary.query('CREATE TABLE later AS SELECT 1 AS x');
    const future = new Date(Date.now() + 60_000).toISOString();
    const target = await newTarget();
    const notYet = await restore(['--target-dir', target, '--to', future]);
    expect(notYet.exitCode).toBe(1);
    expect(notYet.stderr).toContain('is not archived yet');

    // Take a segment out of the middle of the archive: --latest must refuse before writing.
    const first = await primary.switchWal();
    await primary.query('INSERT INTO later VALUES (2)');
    const last = await primary.switchWal();
    await primary.waitArchived(last);
    const segment = join(repo.dir!, 'wal', first.slice(0, 16), first);
    await rm(segment);
    const gap = await restore(['--target-dir', target, '--latest']);
    expect(gap.exitCode).toBe(1);
    expect(gap.stderr).toContain(`WAL ${first} .. ${first} is missing`);
    expect(existsSync(target)).toBe(false);
    // --immediate needs only the backup's own WAL, which is intact, and it works.
    const immediate = await restore(['--target-dir', target, '--immediate']);
    expect(immediate.exitCode, immediate.stderr).toBe(0);
    expect(existsSync(join(target, 'recovery.signal'))).toBe(true);
  });

  it("checks every restored file against PostgreSQL's backup_manifest, beyond the stored checksum", async () => {
    // An uncompressed backup whose tar is altered inside a file, with pitr's checksums
    // updated to match: only the per-file checksums PostgreSQL recorded can tell.
    const res = await pitr(['backup', '--json'], { env: { ...repo.env, ...primary.libpqEnv, PITR_COMPRESS: 'none' } });
    expect(res.exitCode, res.stderr).toBe(0);
    const m = JSON.parse(res.stdout);
    expect(m.files[0]).toMatchObject({ compression: 'none' });
    const object = join(repo.dir!, m.files[0].key);
    const tar = await readFile(object);
    const header = tar.indexOf(Buffer.from('PG_VERSION\0'));
    expect(header % 512).toBe(0);
    expect(tar.subarray(header + 512, header + 515).toString()).toBe('15\n');
    tar[header + 513] = '4'.charCodeAt(0);
    await writeFile(object, tar);
    const { createHash } = await import('node:crypto');
    const manifestPath = join(repo.dir!, 'backups', m.id, 'manifest.json');
    const manifest = JSON.parse(await readFile(manifestPath, 'utf8'));
    manifest.files[0].storedSha256 = createHash('sha256').update(tar).digest('hex');
    await writeFile(manifestPath, JSON.stringify(manifest));

    const target = await newTarget();
    const restored = await restore(['--target-dir', target, '--immediate', '--backup', m.id]);
    expect(restored.exitCode, restored.stderr).toBe(6);
    expect(restored.stderr).toContain("do not match the backup's backup_manifest");
    expect(restored.stderr).toContain('PG_VERSION');
    expect(existsSync(target)).toBe(false);
  });

  it('refuses a damaged backup object and removes what it had written', async () => {
    const [id] = (await readdir(join(repo.dir!, 'backups'))).sort();
    const object = join(repo.dir!, 'backups', id!, 'base.tar.lz4');
    const bytes = await readFile(object);
    const middle = bytes.length >> 1;
    bytes[middle] = bytes[middle]! ^ 0xff;
    await writeFile(object, bytes);
    const target = await newTarget();
    const res = await restore(['--target-dir', target, '--immediate', '--backup', id!]);
    expect(res.exitCode).toBe(6);
    expect(res.stderr).toMatch(/damaged|corrupted/);
    expect(existsSync(target)).toBe(false);
  });
});
