// pitr restore-test end to end: a real server archives into a file:// repository and is backed
// up; restore-test restores it into a throwaway server reachable only through its own socket,
// runs pg_amcheck and SQL checks, reports the RTO and RPO, and leaves nothing behind (no
// directory, no process) whether it passed, a check failed, or the backup was damaged; it
// never writes WAL into the repository.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pitr, tempDir } from '../../tools/harness/env.js';
import type { Cluster } from '../../tools/harness/postgres.js';
import { archivingCluster, fileRepo, type RepoFixture } from '../support/repos.js';

/** Every file under `dir`, relative, sorted. */
async function tree(dir: string): Promise<string[]> {
  return ((await readdir(dir, { recursive: true })) as string[]).sort();
}

/** Processes whose command line mentions `text` (a server left running in a scratch directory). */
function processesMentioning(text: string): string[] {
  return readdirSync('/proc')
    .filter((p) => /^\d+$/.test(p))
    .flatMap((p) => {
      try {
        const cmd = readFileSync(`/proc/${p}/cmdline`, 'utf8').replace(/\0/g, ' ');
        return cmd.includes(text) ? [cmd] : [];
      } catch {
        return [];
      }
    });
}

describe('pitr restore-test', () => {
  let repo: RepoFixture;
  let primary: Cluster;
  let env: Record<string, string>;
  let scratch: string;
  let checks: string;

  beforeAll(async () => {
    repo = await fileRepo();
    ({ cluster: primary, env } = await archivingCluster(repo));
    scratch = await tempDir('restore-tests');
    checks = await tempDir('checks');
    await writeFile(join(checks, 'good.sql'), "SET search_path = public;\nSELECT count(*) = 3 FROM marks;\nSELECT 'x' = 'x';\n");
    await writeFile(join(checks, 'bad.sql'), 'SELECT count(*) = 3 FROM marks;\nSELECT count(*) = 99 FROM marks;\n');
    await primary.query('CREATE TABLE marks (id int PRIMARY KEY)');
    await primary.query('INSERT INTO marks VALUES (1), (2)');
    const backup = await pitr(['backup'], { env });
    expect(backup.exitCode, backup.stderr).toBe(0);
    await primary.query('INSERT INTO marks VALUES (3)');
    await primary.waitArchived(await primary.switchWal());
  });
  afterAll(async () => {
    await primary?.stop('immediate');
  });

  const restoreTest = (args: string[]) => pitr(['--json', 'restore-test', ...args], { env: { ...env, PITR_RESTORE_TEST_DIR: scratch } });
  const walObjects = () => tree(join(repo.dir!, 'wal'));

  it('passes with true checks: RTO, the point recovered to, each check; nothing left behind, no WAL written', async () => {
    const before = await walObjects();
    const res = await restoreTest(['--sql', join(checks, 'good.sql')]);
    expect(res.exitCode, res.stderr).toBe(0);
    const report = JSON.parse(res.stdout) as {
      result: string;
      rtoSeconds: number;
      recoveredTo: string;
      rpoSeconds: number;
      bytes: number;
      checks: { name: string; passed: boolean; detail: string }[];
    };
    expect(report.result).toBe('passed');
    expect(report.rtoSeconds).toBeGreaterThan(0);
    expect(report.recoveredTo).toMatch(/^\d{4}-\d\d-\d\d /);
    expect(report.rpoSeconds).toBeGreaterThanOrEqual(0);
    expect(report.rpoSeconds).toBeLessThan(5); // --latest replays the last transaction archived
    expect(report.bytes).toBeGreaterThan(1_000_000);
    expect(report.checks.map((c) => [c.name, c.passed])).toEqual([
      ['pg_amcheck --all', true],
      ['good.sql', true],
    ]);
    expect(report.checks[1]!.detail).toBe('2 statement(s) answered true');
    expect(await readdir(scratch)).toEqual([]);
    expect(processesMentioning(scratch)).toEqual([]);
    expect(await walObjects()).toEqual(before);
    // Recorded for status on every host.
    const status = await pitr(['status'], { env });
    expect(status.stdout).toMatch(/^restore test +passed .*RTO [\d.]+ s/m);
    expect(existsSync(join(repo.dir!, 'restore-tests', 'last.json'))).toBe(true);
  });

  it('fails with exit 13 on a false check, naming the statement, and leaves nothing behind', async () => {
    const res = await restoreTest(['--sql', join(checks, 'bad.sql')]);
    expect(res.exitCode, res.stderr).toBe(13);
    const report = JSON.parse(res.stdout) as { result: string; checks: { name: string; passed: boolean; detail: string }[] };
    expect(report.result).toBe('failed');
    expect(report.checks.find((c) => c.name === 'bad.sql')).toMatchObject({
      passed: false,
      detail: 'statement 2 answered false, not true',
    });
    expect(await readdir(scratch)).toEqual([]);
    expect(processesMentioning(scratch)).toEqual([]);
    const status = await pitr(['status'], { env });
    expect(status.exitCode).toBe(11);
    expect(status.stdout).toMatch(/last restore test .* failed/);
  });

  it('fails with exit 13 on a damaged backup object, naming it, and leaves nothing behind', async () => {
    const backups = await readdir(join(repo.dir!, 'backups'));
    const object = join(repo.dir!, 'backups', backups[0]!, 'base.tar.lz4');
    const bytes = await readFile(object);
    const damaged = Buffer.from(bytes);
    damaged.writeUInt8(damaged.readUInt8(damaged.length >> 1) ^ 0xff, damaged.length >> 1);
    await writeFile(object, damaged);
    try {
      const res = await restoreTest([]);
      expect(res.exitCode, res.stderr).toBe(13);
      const report = JSON.parse(res.stdout) as { result: string; error: string };
      expect(report.result).toBe('failed');
      expect(report.error).toContain('base.tar.lz4');
      expect(await readdir(scratch)).toEqual([]);
      expect(processesMentioning(scratch)).toEqual([]);
    } finally {
      await writeFile(object, bytes);
    }
  });
});
