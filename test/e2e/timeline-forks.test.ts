// A restored copy next to production, end to end (issue 14): a test restore does not archive
// into the repository it came from unless told it is the new primary (--archive-mode
// preserve); when a copy did archive its new timeline while the primary kept writing on the
// old one, list shows both branches and where they part, restore says which branch it
// follows, and a time only the primary's branch reaches gets advice that works.
import { existsSync } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { freePort, pitr, tempDir } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, fileRepo, type RepoFixture } from '../support/repos.js';

/** A primary archiving into a new file:// repository, with a backup and a row written after it. */
async function primaryWithBackup(started: Cluster[]): Promise<{ repo: RepoFixture; primary: Cluster }> {
  const repo = await fileRepo();
  const primary = await Cluster.create({ conf: archivingInto(repo) });
  started.push(primary);
  await primary.start();
  await primary.query('CREATE TABLE marks (id int PRIMARY KEY)');
  await primary.query('INSERT INTO marks VALUES (1)');
  const backup = await pitr(['backup'], { env: { ...repo.env, ...primary.libpqEnv } });
  expect(backup.exitCode, backup.stderr).toBe(0);
  await primary.query('INSERT INTO marks VALUES (2)');
  await primary.waitArchived(await primary.switchWal());
  return { repo, primary };
}

const started: Cluster[] = [];
afterAll(async () => {
  for (const server of started) await server.stop('immediate');
});

const newTarget = async () => join(await tempDir('restore'), 'data');
const restore = (repo: RepoFixture, args: string[]) => pitr(['--config', repo.configFile, 'restore', ...args]);
async function restoreAndStart(repo: RepoFixture, args: string[]): Promise<{ server: Cluster; dir: string; stdout: string }> {
  const port = await freePort();
  const dir = await newTarget();
  const res = await restore(repo, ['--target-dir', dir, '--start', '--port', String(port), ...args]);
  expect(res.exitCode, res.stderr).toBe(0);
  const server = Cluster.existing(dir, port);
  started.push(server);
  return { server, dir, stdout: res.stdout };
}
const ids = async (c: Cluster) => (await c.query<{ id: number }>('SELECT id FROM marks ORDER BY id')).map((r) => r.id);
const archived = (repo: RepoFixture, name: string) => existsSync(join(repo.dir!, 'wal', name));

describe('a test restore (the default archive mode)', () => {
  it('does not archive: its new timeline stays out of the repository it came from', async () => {
    const { repo } = await primaryWithBackup(started);
    const { server, dir, stdout } = await restoreAndStart(repo, ['--latest']);
    expect(await ids(server)).toEqual([1, 2]);
    expect(await server.one<string>('SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)')).toBe('00000002');
    expect(await server.one<string>('SHOW archive_mode')).toBe('off');
    // PostgreSQL marks the new timeline's history file for the archiver when it promotes; not here.
    const statuses = await readdir(join(dir, 'pg_wal', 'archive_status'));
    expect(statuses.filter((f) => f.startsWith('00000002.history'))).toEqual([]);
    expect(archived(repo, '00000002.history')).toBe(false);
    expect(stdout).toContain("archiving: off (archive_mode = 'off' in postgresql.auto.conf)");
    await server.stop('fast');
  });
});
