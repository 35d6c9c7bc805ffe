// pitr expire, pin and unpin against a real server and both repository kinds: four backups
// with marker rows between them; a dry run that changes nothing and prints both windows; an
// expire killed between a manifest and its data, which leaves nothing in list without its
// data, and the next run that finishes the job; then restores inside the new window (rows
// checked after promotion) and before it (refused before writing).
import { existsSync } from 'node:fs';
import { readdir, rm } from 'node:fs/promises';
import { hostname } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, pitr, tempDir } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import type { S3Store } from '../../tools/harness/s3.js';
import { archivingInto, fileRepo, s3Repo, writeStored, type RepoFixture } from '../support/repos.js';
import { useS3Store } from '../support/s3.js';

const s3 = useS3Store();

const NOW_UTC = "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'";

/** Keys of backups and WAL: what expire may delete (each run also adds its record to history/). */
const dataKeys = (keys: string[]) => keys.filter((k) => !k.startsWith('history/'));

/** Every key stored under `prefix`, read from the store itself (not through pitr). */
async function storedKeys(repo: RepoFixture, server: S3Store, prefix: string): Promise<string[]> {
  if (repo.kind === 'file') {
    const out: string[] = [];
    const walk = async (dir: string) => {
      for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
        const path = join(dir, e.name);
        if (e.isDirectory()) await walk(path);
        else if (!e.name.startsWith('.')) out.push(relative(repo.dir!, path));
      }
    };
    await walk(join(repo.dir!, prefix));
    return out.sort();
  }
  const { ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const out: string[] = [];
  let token: string | undefined;
  do {
    const page = await server
      .client()
      .send(new ListObjectsV2Command({ Bucket: repo.bucket, Prefix: `main/${prefix}`, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push(o.Key!.slice('main/'.length));
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out.sort();
}

interface Listed {
  backups: { id: string; stopTime: string; startWal: string; stopWal: string; walComplete: boolean; pinned: boolean }[];
  wal: { timeline: number; first: string; last: string; segments: number; gaps: unknown[] }[];
  restorableWindow: { from: string; to: string } | null;
}

describe.each(['file', 's3'] as const)('pitr expire in a %s repository', (kind) => {
  let repo: RepoFixture;
  let primary: Cluster;
  let env: Record<string, string>;
  const started: Cluster[] = [];
  const ids: string[] = [];
  /** t[i]: after marker i committed (i = 1..4: marker i follows backup i). */
  const t: string[] = [];
  const list = async (): Promise<Listed> => JSON.parse((await pitr(['list', '--json'], { env })).stdout) as Listed;
  const rows = async (c: Cluster) => (await c.query<{ id: number }>('SELECT id FROM marks ORDER BY id')).map((r) => r.id);

  beforeAll(async () => {
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3());
    primary = await Cluster.create({ conf: archivingInto(repo) });
    await primary.start();
    env = { ...repo.env, ...primary.libpqEnv, PITR_BACKUP_WAL_TIMEOUT: '60' };
    await primary.query('CREATE TABLE marks (id int PRIMARY KEY, at timestamptz NOT NULL DEFAULT clock_timestamp())');
    for (let i = 1; i <= 4; i++) {
      const res = await pitr(['backup'], { env });
      expect(res.exitCode, res.stderr).toBe(0);
      await primary.query(`INSERT INTO marks (id) VALUES (${i})`);
      t[i] = await primary.one<string>(NOW_UTC);
      await primary.waitArchived(await primary.switchWal());
    }
    const listed = await list();
    ids.push(...listed.backups.map((b) => b.id));
    expect(ids).toHaveLength(4);
  });
  afterAll(async () => {
    for (const server of started) await server.stop('immediate');
    await primary?.stop('immediate');
  });

  it('pin refuses an unknown backup in one line, and list shows a pinned one', async () => {
    const unknown = await pitr(['pin', 'no-such-backup'], { env });
    expect(unknown.exitCode).toBe(1);
    expect(unknown.stderr.trim().split('\n')).toHaveLength(1);
    expect(unknown.stderr).toContain('backup no-such-backup is not in');

    expect((await pitr(['pin', ids[0]!], { env })).exitCode).toBe(0);
    expect((await list()).backups.map((b) => b.pinned)).toEqual([true, false, false, false]);
    expect((await pitr(['list'], { env })).stdout).toMatch(new RegExp(`${ids[0]}.*pinned`));
    const unpin = await pitr(['unpin', ids[0]!], { env });
    expect(unpin.exitCode, unpin.stderr).toBe(0);
    expect((await list()).backups.map((b) => b.pinned)).toEqual([false, false, false, false]);
    // Backup 2 stays pinned for the rest: FULL=2 keeps 3 and 4, the pin keeps 2 with its own WAL only.
    expect((await pitr(['pin', ids[1]!], { env })).exitCode).toBe(0);
  });

  it('with no rule set deletes nothing and says so', async () => {
    const before = await storedKeys(repo, s3(), '');
    const res = await pitr(['expire'], { env });
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toContain('no retention rule is set');
    const after = await storedKeys(repo, s3(), '');
    expect(dataKeys(after)).toEqual(dataKeys(before));
    expect(after.filter((k) => !before.includes(k))).toEqual([expect.stringMatching(/^history\/\d{8}T\d{6}Z-expire-[0-9a-f]{6}\.json$/)]);
  });

  it('--dry-run changes nothing and prints what would go and the window before and after', async () => {
    const before = await storedKeys(repo, s3(), '');
    const listedBefore = await list();
    const res = await pitr(['expire', '--dry-run'], { env: { ...env, PITR_RETENTION_FULL: '2' } });
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/would delete 1 backup\(s\) and \d+ WAL file\(s\)/);
    expect(res.stdout).toContain(`backup ${ids[0]}`);
    expect(res.stdout).toMatch(new RegExp(`backup ${ids[1]} .*\\(pinned\\)  WAL start..stop only`));
    expect(res.stdout).toContain(`restorable window before  ${listedBefore.backups[0]!.stopTime} ..`);
    expect(res.stdout).toContain(`restorable window after   ${listedBefore.backups[2]!.stopTime} ..`);
    const json = JSON.parse((await pitr(['--json', 'expire', '--dry-run'], { env: { ...env, PITR_RETENTION_FULL: '2' } })).stdout) as {
      expired: { id: string }[];
      restorableWindowAfter: { from: string };
    };
    expect(json.expired.map((e) => e.id)).toEqual([ids[0]]);
    expect(json.restorableWindowAfter.from).toBe(listedBefore.backups[2]!.stopTime);
    expect(await storedKeys(repo, s3(), '')).toEqual(before);
  });

  it('deletes nothing while a backup runs (the backup lock), and says who holds it', async () => {
    const before = await storedKeys(repo, s3(), '');
    const now = new Date().toISOString();
    const lock = { id: 'running-backup', pid: process.pid, host: hostname(), startedAt: now, heartbeatAt: now };
    await writeStored(repo, s3(), 'locks/backup.json', Buffer.from(JSON.stringify(lock)));
    try {
      const res = await pitr(['expire'], { env: { ...env, PITR_RETENTION_FULL: '1' } });
      expect(res.exitCode).toBe(7);
      expect(res.stderr).toContain('backup running-backup');
      expect(dataKeys(await storedKeys(repo, s3(), ''))).toEqual(dataKeys([...before, 'locks/backup.json'].sort()));
      const [job] = JSON.parse((await pitr(['history', '--json', '--limit', '1'], { env })).stdout).jobs;
      expect(job).toMatchObject({ kind: 'expire', status: 'failed', error: expect.stringContaining('backup running-backup') });
    } finally {
      await rm(repo.kind === 'file' ? join(repo.dir!, 'locks/backup.json') : '/nonexistent', { force: true });
      if (repo.kind === 's3') {
        const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
        await s3()
          .client()
          .send(new DeleteObjectCommand({ Bucket: repo.bucket, Key: 'main/locks/backup.json' }));
      }
    }
  });

  it('killed between a manifest and its data, leaves no backup in list without its data; the next run finishes', async () => {
    const retention = { PITR_RETENTION_FULL: '2' };
    const killed = await pitr(['expire'], { env: { ...env, ...retention, PITR_TEST_CRASH: 'expire-after-1-deletes' } });
    expect(killed.exitCode).not.toBe(0);
    // The manifest of backup 1 went, its data not yet: list no longer shows it.
    expect(await storedKeys(repo, s3(), `backups/${ids[0]}/`)).toEqual([`backups/${ids[0]}/base.tar.lz4`]);
    const mid = await list();
    expect(mid.backups.map((b) => b.id)).toEqual(ids.slice(1));
    for (const b of mid.backups) {
      expect(b.walComplete).toBe(true);
      expect(await storedKeys(repo, s3(), `backups/${b.id}/`)).toEqual([`backups/${b.id}/base.tar.lz4`, `backups/${b.id}/manifest.json`]);
    }

    // What the killed run left is a repository verify passes: nothing listed lacks its data or WAL.
    const midVerify = await pitr(['verify'], { env });
    expect(midVerify.exitCode, midVerify.stdout + midVerify.stderr).toBe(0);

    const res = await pitr(['expire'], { env: { ...env, ...retention } });
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stdout).toMatch(/deleted 0 backup\(s\) and \d+ WAL file\(s\): \d+ object\(s\), [\d.]+ MiB freed/);
    expect(res.stdout).toContain(`backup ${ids[0]}  without a manifest`);
    expect(await storedKeys(repo, s3(), `backups/${ids[0]}/`)).toEqual([]);

    const after = await list();
    expect(after.backups.map((b) => [b.id, b.walComplete, b.pinned])).toEqual([
      [ids[1], true, true],
      [ids[2], true, false],
      [ids[3], true, false],
    ]);
    // WAL: backup 2's start..stop, then from backup 3's start on; nothing before backup 2.
    const tl = after.wal.find((w) => w.timeline === 1)!;
    expect(tl.first).toBe(after.backups[0]!.startWal);
    expect(tl.gaps).toHaveLength(1);
    expect(after.restorableWindow!.from).toBe(after.backups[1]!.stopTime);

    const verified = await pitr(['verify'], { env });
    expect(verified.exitCode, verified.stdout + verified.stderr).toBe(0);

    // Nothing left to do.
    const again = await pitr(['--json', 'expire'], { env: { ...env, ...retention } });
    expect(JSON.parse(again.stdout)).toMatchObject({ expired: [], wal: { files: 0 }, objects: 0 });
  });

  it('a restore --to inside the new window works; one before it is refused before writing', async () => {
    const port = await freePort();
    const dir = join(await tempDir('restore'), 'data');
    const ok = await pitr(['--config', repo.configFile, 'restore', '--target-dir', dir, '--to', t[3]!, '--start', '--port', String(port)]);
    expect(ok.exitCode, ok.stderr).toBe(0);
    const server = Cluster.existing(dir, port);
    started.push(server);
    expect(await rows(server)).toEqual([1, 2, 3]);

    // t[2] follows backup 2, whose WAL after its stop is gone.
    const refusedDir = join(await tempDir('restore'), 'data');
    const refused = await pitr(['--config', repo.configFile, 'restore', '--target-dir', refusedDir, '--to', t[2]!]);
    expect(refused.exitCode).toBe(1);
    expect(refused.stderr).toMatch(/missing|not archived/);
    expect(existsSync(refusedDir)).toBe(false);
  });

  it('calendar rules in PITR_TIMEZONE keep the newest backup of each day, week and month (and the pinned one); killed after every deletion or two, verify passes between', async () => {
    // All four backups were taken today, this week and this month, in any zone.
    const rules = {
      PITR_TIMEZONE: 'Pacific/Kiritimati',
      PITR_RETENTION_DAILY: '3',
      PITR_RETENTION_WEEKLY: '2',
      PITR_RETENTION_MONTHLY: '2',
    };
    const dry = JSON.parse((await pitr(['--json', 'expire', '--dry-run'], { env: { ...env, ...rules } })).stdout) as {
      kept: { id: string; reasons: string[] }[];
      expired: { id: string }[];
    };
    const listed = await list();
    const present = listed.backups.map((b) => b.id);
    const newest = present.at(-1)!;
    expect(newest).toBe(ids[3]);
    expect(dry.kept.find((k) => k.id === newest)!.reasons.join(' ')).toMatch(/daily.*weekly.*monthly/);
    expect(dry.kept.map((k) => k.id).sort()).toEqual([ids[1]!, newest].sort()); // the pin keeps backup 2
    expect(dry.expired.map((e) => e.id)).toEqual(present.filter((id) => id !== ids[1] && id !== newest));

    // Killed after every deletion or two, run after run: each state between is one verify
    // passes, with no backup listed that lacks its data or WAL, until a run has nothing left.
    // (After 2: a killed run leaves its lock, whose removal by the next run is a deletion too.)
    let runs = 0;
    for (;;) {
      const res = await pitr(['expire'], { env: { ...env, ...rules, PITR_TEST_CRASH: 'expire-after-2-deletes' } });
      runs++;
      const listed = await list();
      expect(listed.backups.every((b) => b.walComplete)).toBe(true);
      const verify = await pitr(['--json', 'verify'], { env });
      expect(verify.exitCode, `after run ${runs}: ${verify.stdout}${verify.stderr}`).toBe(0);
      const interrupted = (JSON.parse(verify.stdout) as { interruptedExpire: { backups: string[] } | null }).interruptedExpire;
      if (res.exitCode === 0) {
        expect(interrupted).toBeNull(); // the run that finished cleared what it set out to remove
        break;
      }
      if (runs === 1) {
        expect(interrupted, 'verify says an expire was interrupted').not.toBeNull();
        const status = JSON.parse((await pitr(['--json', 'status'], { env })).stdout) as { warnings: string[] };
        expect(status.warnings.join('\n')).toMatch(/an expire that began .* was interrupted .*run "pitr expire" to finish it/);
      }
      expect(runs).toBeLessThan(40);
    }
    expect(runs).toBeGreaterThan(3); // a manifest, its data, WAL: each run was cut short
    expect((await list()).backups.map((b) => b.id)).toEqual([ids[1], newest]);
  });
});
