// bin/pitr when it cannot start the full program: one line, and exit codes its callers need
// (above 125 for restore_command, so that recovery stops instead of ending early).
import { execa } from 'execa';
import { copyFile, mkdir } from 'node:fs/promises';
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
