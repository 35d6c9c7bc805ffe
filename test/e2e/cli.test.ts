// The command line itself: help, usage errors and the messages that name what was wrong.
// No server needed: each case fails (or answers) before a repository is touched.
import { chmod, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AS_ROOT, pitr, tempDir } from '../../tools/harness/env.js';

describe('messages that name the bad input', () => {
  it('--port names what was given, not NaN', async () => {
    const res = await pitr(['--repo', 'file:///tmp', 'restore', '--target-dir', '/tmp/never', '--latest', '--port', 'abc']);
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain('"abc" is not a TCP port');
    expect(res.stderr).not.toContain('NaN');
  });

  it('a config file this user cannot read says so, and how to fix it', async () => {
    const file = join(await tempDir('conf'), 'pitr.env');
    await writeFile(file, 'PITR_REPO=file:///tmp\n');
    // Root reads anything: as root, the file is root's own and the reader is postgres.
    await chmod(file, AS_ROOT ? 0o600 : 0o000);
    const res = await pitr(['--config', file, 'status'], { asPostgres: true });
    expect(res.exitCode).toBe(2);
    expect(res.stderr).toContain(file);
    expect(res.stderr).toContain('permission denied');
    expect(res.stderr).toContain('chmod 640');
    expect(res.stderr).not.toContain('fix the path');
  });
});
