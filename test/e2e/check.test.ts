// pitr check against real clusters archiving through bin/pitr: every step printed as it
// passes, exit 14 naming the step that failed.
import { chmod, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort, pitr } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { S3Server } from '../../tools/harness/s3.js';
import { archivingCluster, archivingInto, fileRepo, s3Repo, type RepoFixture } from '../support/repos.js';

const STEPS = ['database', 'settings', 'repository', 'archiving'];

function expectSteps(stdout: string, passed: string[], failed?: string): void {
  const lines = stdout.trim().split('\n');
  expect(lines.map((l) => l.split(/\s+/).slice(0, 2).join(' '))).toEqual([
    ...passed.map((s) => `ok ${s}`),
    ...(failed ? [`FAILED ${failed}`] : []),
  ]);
}

describe('pitr check, file:// repository', () => {
  let repo: RepoFixture;
  let cluster: Cluster;
  let env: Record<string, string>;

  beforeAll(async () => {
    repo = await fileRepo();
    ({ cluster, env } = await archivingCluster(repo));
  });
  afterAll(async () => {
    await cluster?.stop('immediate');
  });

  it('passes (0) on a working set-up, printing each step, and leaves nothing under check/', async () => {
    const res = await pitr(['check'], { env });
    expect(res.exitCode, res.stdout + res.stderr).toBe(0);
    expectSteps(res.stdout, STEPS);
    expect(res.stdout).toMatch(/archiving\s+forced a WAL switch: [0-9A-F]{24} archived and stored as wal\/[0-9A-F]{16}\/[0-9A-F]{24}/);
    expect(await readdir(join(repo.dir!, 'check')).catch(() => [])).toEqual([]);
    const json = JSON.parse((await pitr(['check', '--json'], { env })).stdout);
    expect(json).toMatchObject({ ok: true, failedStep: null });
    expect(json.steps.map((s: { step: string }) => s.step)).toEqual(STEPS);
  });

  it('fails (14) at "archiving" when archive_command runs pitr but cannot store (the repository read-only for postgres)', async () => {
    const walDir = join(repo.dir!, 'wal');
    const dirs = [walDir, ...(await readdir(walDir)).filter((d) => !d.includes('.')).map((d) => join(walDir, d))];
    for (const d of dirs) await chmod(d, 0o555);
    try {
      const res = await pitr(['check', '--timeout', '30s'], { env });
      expect(res.exitCode, res.stdout + res.stderr).toBe(14);
      expectSteps(res.stdout, ['database', 'settings', 'repository'], 'archiving');
      expect(res.stderr).toMatch(/step "archiving" failed: archive_command failed \d+ times since the check began/);
    } finally {
      for (const d of dirs) await chmod(d, 0o755);
    }
  });

  it('fails (14) at "settings" when archive_command does not run pitr wal-push', async () => {
    await cluster.configure({ archive_command: "'false'" });
    await cluster.query('SELECT pg_reload_conf()');
    try {
      const res = await pitr(['check'], { env });
      expect(res.exitCode, res.stdout + res.stderr).toBe(14);
      expectSteps(res.stdout, ['database'], 'settings');
      expect(res.stderr).toContain(`step "settings" failed: archive_command is 'false', which does not run "pitr wal-push %p"`);
    } finally {
      await cluster.configure(archivingInto(repo));
      await cluster.query('SELECT pg_reload_conf()');
    }
  });

  it('fails (14) at "archiving" for a role that may not force a WAL switch, saying what to grant', async () => {
    await cluster.query('CREATE ROLE checker LOGIN');
    const res = await pitr(['check'], { env: { ...env, PGUSER: 'checker' } });
    expect(res.exitCode, res.stdout + res.stderr).toBe(14);
    expectSteps(res.stdout, ['database', 'settings', 'repository'], 'archiving');
    expect(res.stderr).toContain('GRANT EXECUTE ON FUNCTION pg_switch_wal() TO the role');
  });

  it('fails (14) at "database" when no server answers', async () => {
    const res = await pitr(['check'], { env: { ...env, PGPORT: String(await freePort()) } });
    expect(res.exitCode).toBe(14);
    expectSteps(res.stdout, [], 'database');
    expect(res.stderr).toContain('cannot connect to the database');
  });
});

describe('pitr check, S3 repository', () => {
  it('passes on a working set-up, and fails (14) at "repository" while the store is down', async () => {
    const s3 = await S3Server.start();
    const repo = await s3Repo(s3);
    const cluster = await Cluster.create({ conf: archivingInto(repo) });
    await cluster.start();
    try {
      const env = { ...repo.env, ...cluster.libpqEnv, PITR_S3_MAX_ATTEMPTS: '1', PITR_S3_CONNECT_TIMEOUT_MS: '1000' };
      const res = await pitr(['check'], { env });
      expect(res.exitCode, res.stdout + res.stderr).toBe(0);
      expectSteps(res.stdout, STEPS);

      await s3.stop();
      const down = await pitr(['check'], { env });
      expect(down.exitCode, down.stdout + down.stderr).toBe(14);
      expectSteps(down.stdout, ['database', 'settings'], 'repository');
      expect(down.stderr).toContain(`repository ${repo.env.PITR_REPO}`);
    } finally {
      await cluster.stop('immediate');
      await s3.stop();
    }
  });
});
