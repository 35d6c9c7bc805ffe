// bin/pitr when it cannot start the full program: one line, and exit codes its callers need
// (above 125 for restore_command, so that recovery stops instead of ending early).
import { execa } from 'execa';
import { copyFile, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PITR_BIN, tempDir } from '../../tools/harness/env.js';

describe('the launcher without its build', () => {
  it('exits 210 for wal-fetch and 10 for wal-push, with a one-line reason', async () => {
    const install = await tempDir('install');
    await mkdir(join(install, 'bin'));
    await copyFile(PITR_BIN, join(install, 'bin', 'pitr'));
    const run = (args: string[]) => execa('/bin/sh', [join(install, 'bin', 'pitr'), ...args], { reject: false, cwd: install });
    const fetch = await run(['wal-fetch', '000000010000000000000001', 'pg_wal/RECOVERYXLOG']);
    expect(fetch.exitCode).toBe(210);
    expect(fetch.stderr.trim().split('\n')).toHaveLength(1);
    expect(fetch.stderr).toMatch(/dist\/main\.js is missing.*npm ci/);
    const push = await run(['wal-push', 'pg_wal/000000010000000000000001']);
    expect(push.exitCode).toBe(10);
    expect((await run(['--help'])).exitCode).toBe(10);
  });
});

describe('the launcher when Node fails before pitr runs', () => {
  it('turns Node\'s own exit codes into 210 for wal-fetch, while "not found" stays 1', async () => {
    const dir = await tempDir('cwd');
    const run = (args: string[], env: Record<string, string>) => execa('/bin/sh', [PITR_BIN, ...args], { reject: false, env, cwd: dir });
    // A repository (its identity object) that does not hold the file: "not found" is then the store's own answer.
    const repo = await tempDir('repo');
    const identity = {
      id: 'launcher-test',
      format: 1,
      systemIdentifier: '1',
      pgVersion: 15,
      walSegmentSize: 16777216,
      createdAt: '2026-12-01T00:00:00Z',
      createdBy: 'test',
    };
    await writeFile(join(repo, 'repository.json'), JSON.stringify(identity));
    const args = ['--repo', `file://${repo}`, 'wal-fetch', '000000010000000000000001', join(dir, 'RECOVERYXLOG')];
    // A NODE_OPTIONS that Node refuses: it exits 9, which PostgreSQL would read as "not found".
    const broken = await run(args, { NODE_OPTIONS: '--cpu-prof' });
    expect(broken.exitCode).toBe(210);
    expect(broken.stderr).toMatch(/node exited with status 9 before pitr could answer/);
    // A module that throws while loading: Node exits 1.
    const preload = join(dir, 'throw.cjs');
    await writeFile(preload, 'throw new Error("broken install")\n');
    expect((await run(args, { NODE_OPTIONS: `--require ${preload}` })).exitCode).toBe(210);
    // The control: the same call with a working Node is "not found", exit 1.
    const absent = await run(args, {});
    expect(absent.exitCode, absent.stderr).toBe(1);
  });
});
