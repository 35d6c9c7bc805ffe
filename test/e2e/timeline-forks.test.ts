// A restored copy next to production, end to end (issue 14): a test restore does not archive
// into the repository it came from unless told it is the new primary (--archive-mode
// preserve); when a copy did archive its new timeline while the primary kept writing on the
// old one, list shows both branches and where they part, restore says which branch it
// follows, and a time only the primary's branch reaches gets advice that works.
import { existsSync } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, pitr, tempDir, waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, fileRepo, type RepoFixture } from '../support/repos.js';

const NOW_UTC = "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'";

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
  it('does not archive: its new timeline stays out of the repository it came from, until turned on as the runbook says', async () => {
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

    // Made the new primary after all: the runbook's "Switch over", step 2, turns archiving on.
    await server.query('ALTER SYSTEM RESET archive_mode');
    await server.stop('fast');
    await server.start();
    expect(await server.one<string>('SHOW archive_mode')).toBe('on');
    const pushed = await pitr(['--config', repo.configFile, 'wal-push', 'pg_wal/00000002.history'], { cwd: dir, asPostgres: true });
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    await server.query('INSERT INTO marks VALUES (3)');
    const segment = await server.switchWal();
    await server.waitArchived(segment);
    expect(archived(repo, '00000002.history')).toBe(true);
    expect(archived(repo, join(segment.slice(0, 16), segment))).toBe(true);
    expect(segment.slice(0, 8)).toBe('00000002');
    await server.stop('fast');
  });
});

describe('a copy that became a new primary while the old one kept writing', () => {
  let repo: RepoFixture;
  let primary: Cluster;
  /** Where the copy forked timeline 2 off timeline 1. */
  let forkLsn = '';
  /** A time after the fork that only timeline 1, the primary's, reaches. */
  let onlyOnTimeline1 = '';

  beforeAll(async () => {
    ({ repo, primary } = await primaryWithBackup(started));
  });

  it('archives its timeline with --archive-mode preserve, and list shows both branches and the fork', async () => {
    const { server, dir, stdout } = await restoreAndStart(repo, ['--latest', '--archive-mode', 'preserve']);
    await waitFor('00000002.history archived', async () => archived(repo, '00000002.history'));
    // PostgreSQL's own record of the fork: "1<TAB>0/3000000<TAB>no recovery target specified".
    forkLsn = (await readFile(join(dir, 'pg_wal', '00000002.history'), 'utf8')).split('\t')[1]!;
    expect(forkLsn).toMatch(/^[0-9A-F]+\/[0-9A-F]+$/);
    await server.query('INSERT INTO marks VALUES (20)');
    await server.waitArchived(await server.switchWal());
    await server.stop('fast');

    // The primary never stopped: it goes on writing on timeline 1, past the fork, at a time
    // after timeline 2's archive ended (restore reads store times to the second).
    const tl2 = join(repo.dir!, 'wal', '0000000200000000');
    const tl2End = Math.max(...(await Promise.all((await readdir(tl2)).map(async (f) => (await stat(join(tl2, f))).mtimeMs))));
    await waitFor('the primary clock 1.5 s past the end of timeline 2', async () => {
      const now = await primary.one<number>('SELECT extract(epoch FROM clock_timestamp())::float8 * 1000');
      return now > tl2End + 1500;
    });
    await primary.query('INSERT INTO marks VALUES (3)');
    onlyOnTimeline1 = await primary.one<string>(NOW_UTC);
    await primary.query('INSERT INTO marks VALUES (4)');
    await primary.waitArchived(await primary.switchWal());

    const json = await pitr(['list', '--json'], { env: repo.env });
    expect(json.exitCode, json.stderr).toBe(0);
    const { branches } = JSON.parse(json.stdout);
    expect(branches).toMatchObject([
      { timeline: 1, parent: null, forkLsn: null, forks: [{ timeline: 2, lsn: forkLsn, wentOnPast: true }] },
      { timeline: 2, parent: 1, forkLsn, forks: [] },
    ]);
    for (const b of branches) {
      expect(b.lastSegment).toMatch(new RegExp(`^0000000${b.timeline}`));
      expect(new Date(b.lastArchivedAt).getTime()).toBeGreaterThan(0);
    }
    const text = await pitr(['list'], { env: repo.env });
    expect(text.stdout).toContain(`    forked from timeline 1 at ${forkLsn}\n`);
    expect(text.stdout).toContain(`    timeline 2 forked off at ${forkLsn}, and timeline 1 went on past it: two histories from there`);
    expect(stdout).toContain('archiving: preserved');
  });

  it('restore --latest says which branch it follows, and the one it leaves aside', async () => {
    const dir = await newTarget();
    const res = await restore(repo, ['--target-dir', dir, '--latest']);
    expect(res.exitCode, res.stderr).toBe(0);
    const [first, second] = res.stdout.split('\n');
    expect(first).toBe(`following timeline 2 (forked from 1 at ${forkLsn}): the newest timeline, --timeline latest`);
    expect(second).toMatch(
      new RegExp(
        `^not following timeline 1 past ${forkLsn}, where timeline 2 leaves it, archived to \\S+ \\(0000000100000000000000\\w\\w, stored .*\\): --timeline 1 follows it$`,
      ),
    );
    expect(await readFile(join(dir, 'postgresql.auto.conf'), 'utf8')).toContain("recovery_target_timeline = '2'");
  });

  it('a time after the fork that only timeline 1 reaches: the refusal names --timeline 1, which restores it', async () => {
    const dir = await newTarget();
    const refused = await restore(repo, ['--target-dir', dir, '--to', onlyOnTimeline1]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toContain('is not reachable along the newest timeline (--timeline latest) but is on another branch, timeline 1');
    expect(refused.stderr).toContain('restore with --timeline 1');
    expect(existsSync(dir)).toBe(false);

    const { server, stdout } = await restoreAndStart(repo, ['--to', onlyOnTimeline1, '--timeline', '1']);
    expect(await ids(server)).toEqual([1, 2, 3]);
    expect(stdout).toContain('following timeline 1: --timeline 1\nnot following timeline 2, forked from 1 at');
  });
});
