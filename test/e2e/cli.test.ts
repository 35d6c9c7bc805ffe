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

describe('--help', () => {
  it("lists the command's own options first, then the shared ones under their headings", async () => {
    const res = await pitr(['restore', '--help']);
    expect(res.exitCode).toBe(0);
    const at = (text: string) => {
      const i = res.stdout.indexOf(text);
      expect(i, `${text} in --help`).toBeGreaterThan(-1);
      return i;
    };
    const headings = ['Options:', 'Repository and S3 options:', 'Database options:', 'Archiver tuning:', 'Global options:'].map(at);
    expect(headings).toEqual([...headings].sort((a, b) => a - b));
    // Each flag under its own heading: restore's before the first shared group, the S3 ones in theirs.
    expect(at('--target-dir')).toBeLessThan(headings[1]!);
    expect(at('--archive-mode')).toBeLessThan(headings[1]!);
    expect(at('--s3-endpoint')).toBeGreaterThan(headings[1]!);
    expect(at('--s3-endpoint')).toBeLessThan(headings[2]!);
    expect(at('--archive-lookahead')).toBeGreaterThan(headings[3]!);
    expect(at('--log-level')).toBeGreaterThan(headings[4]!);
  });
});

describe('typos: the nearest command or flag, and the usage exit code', () => {
  it.each([
    [['restor'], 'unknown command restor; did you mean restore?'],
    [['restore', '--targt-dir', 'x', '--latest'], 'unknown option --targt-dir; did you mean --target-dir?'],
    [['--rpo', 'file:///tmp', 'status'], 'unknown option --rpo; did you mean --repo?'],
  ])('pitr %j', async (args, expected) => {
    const res = await pitr(args);
    expect(res.exitCode).toBe(2);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
    expect(res.stderr).toContain(expected);
  });
});
