// The command line itself: help, usage errors and the messages that name what was wrong.
// Most cases fail (or answer) before a repository is touched; `init` needs a data directory.
import { execa } from 'execa';
import { chmod, readdir, writeFile } from 'node:fs/promises';
import { join, relative } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AS_ROOT, pitr, PITR_BIN, tempDir } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { shellQuote } from '../../src/pg/quoting.js';

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

describe('at a terminal', () => {
  let cluster: Cluster;
  beforeAll(async () => {
    cluster = await Cluster.create();
  });

  /** Runs bin/pitr with stdout and stderr on a pseudo-terminal (script(1)); returns what the terminal showed. */
  async function onTerminal(args: string[]): Promise<{ exitCode: number; output: string }> {
    const command = [PITR_BIN, ...args].map(shellQuote).join(' ');
    const res = await execa('script', ['-qec', command, '/dev/null'], { reject: false, env: { PITR_CONFIG: '' } });
    return { exitCode: res.exitCode ?? -1, output: res.stdout };
  }

  it('shows human lines only: a warning in words, no JSON log line, the summary', async () => {
    const repo = await tempDir('repo');
    const config = join(await tempDir('conf'), 'pitr.env');
    // A world-readable file holding a secret: pitr warns about it.
    await writeFile(config, `PITR_REPO=file://${repo}\nAWS_SECRET_ACCESS_KEY=not-a-real-one\n`);
    await chmod(config, 0o644);
    const args = ['--config', config, '--pgdata', cluster.dataDir, 'init'];
    const tty = await onTerminal(args);
    expect(tty.exitCode, tty.output).toBe(0);
    expect(tty.output).toContain('pitr init: warning: config file');
    expect(tty.output).toContain('initialised: file://');
    expect(tty.output).not.toContain('{"level"');
    // Not a terminal (PostgreSQL's log, a pipe): JSON lines, as the contract says.
    const piped = await pitr(args);
    expect(piped.exitCode, piped.stderr).toBe(0);
    expect(piped.stderr).toContain('{"level":40');
  });
});

describe('pitr init', () => {
  it('prints archive_command and restore_command lines that work from PostgreSQL as they stand', async () => {
    const repo = await tempDir('repo');
    const configDir = await tempDir('conf');
    await writeFile(join(configDir, 'pitr.env'), 'PITR_COMPRESS=none\n');
    const cluster = await Cluster.create();
    // Called through a relative path, with a relative config path, the repository by flag and a setting from the environment.
    const args = ['--config', 'pitr.env', '--repo', `file://${repo}`, '--pgdata', cluster.dataDir, 'init'];
    const ok = await execa(relative(configDir, PITR_BIN), args, {
      cwd: configDir,
      reject: false,
      env: { PITR_ARCHIVE_CONCURRENCY: '1', PITR_CONFIG: '' },
    });
    expect(ok.exitCode, ok.stderr).toBe(0);
    const line = (setting: string) =>
      ok.stdout
        .split('\n')
        .find((l) => l.trim().startsWith(`${setting} = `))
        ?.trim();
    const expected = `'${PITR_BIN} --config ${join(configDir, 'pitr.env')} --repo file://${repo} --archive-concurrency 1`;
    expect(line('archive_command')).toBe(`archive_command = ${expected} wal-push %p'`);
    expect(line('restore_command')).toBe(`restore_command = ${expected} wal-fetch %f %p'`);
    expect(ok.stdout).toContain('archive_mode = on');

    // PostgreSQL runs it with its own environment, from the data directory: the line is all it has.
    await cluster.configure({ archive_mode: 'on', archive_command: line('archive_command')!.slice('archive_command = '.length) });
    await cluster.start();
    try {
      const segment = await cluster.switchWal();
      await cluster.waitArchived(segment);
      expect(await readdir(join(repo, 'wal', segment.slice(0, 16)))).toContain(segment);
    } finally {
      await cluster.stop('immediate');
    }
  });
});
