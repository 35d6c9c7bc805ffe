// The hand-off protocol (src/launcher/handoff.ts) is only right if bin/pitr reads what the
// TypeScript writes, and the TypeScript reads what bin/pitr writes. These run bin/pitr's own
// reader functions, cut from the launcher as it ships, by /bin/sh against files written by
// the workers' own writers, for every kind of file the two sides share; each with a control
// that the reader really looked at the field (a changed value is not taken).
import { execFile, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { readWanted } from '../../src/archive/prefetch.js';
import { claim, usedAt, writeRecord, writeStamp } from '../../src/archive/records.js';
import { lockWorker } from '../../src/archive/workers.js';
import { archiverPidFile, claimLine, spool, spoolDir, spoolOkLine, tokenLine, workerPidLine } from '../../src/launcher/handoff.js';
import { bootId } from '../../src/os/boot-id.js';
import { replaceFile } from '../../src/os/exclusive-temp.js';
import { fileIdentity } from '../../src/os/file-identity.js';
import { PITR_BIN, waitFor } from '../../tools/harness/env.js';

const launcher = readFileSync(PITR_BIN, 'utf8');
/** A function of the launcher, one line or many. */
const shellFn = (name: string) => new RegExp(`^${name}\\(\\) \\{(?: .*\\}|\\n[\\s\\S]*?\\n\\})\\n`, 'm').exec(launcher)![0];
const identityLine = /^IDENTITY=.*$/m.exec(launcher)![0];
const readers = ['alive', 'started_at', 'clock', 'news', 'say', 'say_debug', 'push_answered', 'fetch_answered'].map(shellFn).join('');

const SEGMENT = '000000010000000000000007';
const FP = 'a'.repeat(64);
const REPO = 'repo-0123456789';

/** A data directory as bin/pitr checks it: global/pg_control, the segment in pg_wal, its .ready. */
function dataDir(): string {
  const dir = mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-handoff-'));
  mkdirSync(join(dir, 'global'));
  writeFileSync(join(dir, 'global', 'pg_control'), '');
  mkdirSync(join(dir, 'pg_wal', 'archive_status'), { recursive: true });
  writeFileSync(join(dir, 'pg_wal', SEGMENT), 'segment bytes');
  writeFileSync(join(dir, 'pg_wal', 'archive_status', `${SEGMENT}.ready`), '');
  return dir;
}

/**
 * Runs a launcher reader in `dir` with this fingerprint; `waiting` replaces its wait for a
 * worker's news with an exit that says it chose to wait. stdout ends "unanswered" when the
 * reader returned without an answer.
 */
function shell(dir: string, call: string, opts: { waiting?: boolean } = {}) {
  const news = opts.waiting ? 'news() { echo waiting; exit 3; }\n' : '';
  const script = `LC_ALL=C\n${identityLine}\nnl='\n'\n${readers}${news}fp=${FP} level=info command=x waking=\n${call}\necho unanswered`;
  try {
    const stdout = execFileSync('/bin/sh', ['-c', script], { cwd: dir, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    return { code: 0, stdout };
  } catch (err) {
    const e = err as { status: number; stdout: string };
    return { code: e.status, stdout: e.stdout };
  }
}

const record = (dir: string, over: { fingerprint?: string; repositoryId?: string } = {}) =>
  writeRecord(dir, SEGMENT, {
    fingerprint: over.fingerprint ?? FP,
    identity: fileIdentity(join(dir, 'pg_wal', SEGMENT))!,
    checksum: 'b'.repeat(64),
    repositoryId: over.repositoryId ?? REPO,
  });

describe('bin/pitr reads what the archiver writes', () => {
  it('a record and the live archiver stamp answer the push, and the launcher marks records used for Node to read', async () => {
    const dir = dataDir();
    await record(dir);
    writeStamp(dir, { repositoryId: REPO, file: null });
    expect(usedAt(dir)).toBe(0);
    expect(shell(dir, `push_answered pg_wal/${SEGMENT}`)).toEqual({ code: 0, stdout: '' });
    expect(usedAt(dir)).toBeGreaterThan(0);
  });

  it('a record of another fingerprint, or a stamp of another repository, does not', async () => {
    const dir = dataDir();
    await record(dir, { fingerprint: 'c'.repeat(64) });
    writeStamp(dir, { repositoryId: REPO, file: null });
    expect(shell(dir, `push_answered pg_wal/${SEGMENT}`).stdout).toBe('unanswered\n');
    await record(dir);
    writeStamp(dir, { repositoryId: 'repo-other-one', file: null });
    expect(shell(dir, `push_answered pg_wal/${SEGMENT}`).stdout).toBe('unanswered\n');
  });

  it("a file:// stamp names repository.json's identity, which the launcher compares itself", async () => {
    const dir = dataDir();
    const repositoryJson = join(dir, 'repository.json');
    writeFileSync(repositoryJson, '{}');
    await record(dir);
    writeStamp(dir, { repositoryId: REPO, file: { identity: fileIdentity(repositoryJson)!, path: repositoryJson } });
    expect(shell(dir, `push_answered pg_wal/${SEGMENT}`).code).toBe(0);
    writeFileSync(repositoryJson, '{ }'); // another repository at the same path
    expect(shell(dir, `push_answered pg_wal/${SEGMENT}`).stdout).toBe('unanswered\n');
  });

  it("waits for the archiver its pid file names, with this call's fingerprint, while it claims the file", async () => {
    const dir = dataDir();
    expect(await lockWorker(archiverPidFile(dir), 'wal-archive-ahead', FP)).toBe(true);
    expect(await claim(dir, SEGMENT)).toBe(true);
    expect(shell(dir, `push_answered pg_wal/${SEGMENT}`, { waiting: true })).toEqual({ code: 3, stdout: 'waiting\n' });
    writeFileSync(archiverPidFile(dir), `${process.pid} ${'d'.repeat(64)}\n`); // an archiver of another configuration
    expect(shell(dir, `push_answered pg_wal/${SEGMENT}`, { waiting: true }).stdout).toBe('unanswered\n');
  });
});

describe('bin/pitr reads what the prefetcher writes, and the prefetcher what bin/pitr writes', () => {
  /** A spool holding a verified copy of the segment, vouched for by its .ok, and a live prefetcher. */
  async function spoolWithCopy(boot = bootId()): Promise<{ dir: string; spool: string }> {
    const dir = dataDir();
    const at = spoolDir(dir, FP);
    mkdirSync(at, { recursive: true });
    expect(await lockWorker(join(at, spool.PID), 'wal-prefetch', FP)).toBe(true);
    writeFileSync(join(at, SEGMENT), 'fetched bytes');
    replaceFile(
      join(at, spool.okEntry(SEGMENT)),
      spoolOkLine.format({ identity: fileIdentity(join(at, SEGMENT))!, checksum: 'e'.repeat(64), boot }),
    );
    return { dir, spool: at };
  }

  it('hands over a copy its .ok vouches for, and tells the prefetcher where recovery is', async () => {
    const { dir, spool: at } = await spoolWithCopy();
    expect(shell(dir, `fetch_answered ${SEGMENT} pg_wal/RECOVERYXLOG`)).toEqual({ code: 0, stdout: '' });
    expect(readFileSync(join(dir, 'pg_wal', 'RECOVERYXLOG'), 'utf8')).toBe('fetched bytes');
    expect(await readWanted(at)).toBe(SEGMENT);
  });

  it('does not hand over a copy vouched for in another boot', async () => {
    const { dir } = await spoolWithCopy('another-boot-id');
    expect(shell(dir, `fetch_answered ${SEGMENT} pg_wal/RECOVERYXLOG`).stdout).toBe('unanswered\n');
    expect(existsSync(join(dir, 'pg_wal', 'RECOVERYXLOG'))).toBe(false);
  });

  it('waits for a planned file without asking for it', async () => {
    const dir = dataDir();
    const at = spoolDir(dir, FP);
    mkdirSync(at, { recursive: true });
    expect(await lockWorker(join(at, spool.PID), 'wal-prefetch', FP)).toBe(true);
    writeFileSync(join(at, spool.planEntry(SEGMENT)), '');
    expect(shell(dir, `fetch_answered ${SEGMENT} pg_wal/RECOVERYXLOG`, { waiting: true }).stdout).toBe('waiting\n');
    expect(existsSync(join(at, spool.askEntry(SEGMENT)))).toBe(false);
  });

  it("asks for an unplanned file with its token, and takes the prefetcher's answer for that token as not archived", async () => {
    const dir = dataDir();
    const at = spoolDir(dir, FP);
    mkdirSync(at, { recursive: true });
    expect(await lockWorker(join(at, spool.PID), 'wal-prefetch', FP)).toBe(true);
    const script = `LC_ALL=C\n${identityLine}\nnl='\n'\n${readers}fp=${FP} level=info command=x waking=\nfetch_answered ${SEGMENT} pg_wal/RECOVERYXLOG\necho unanswered`;
    const asking = new Promise<{ code: number | null; pid: number }>((resolve) => {
      const child = execFile('/bin/sh', ['-c', script], { cwd: dir }, (err) =>
        resolve({ code: err ? (err.code as number) : 0, pid: child.pid! }),
      );
    });
    const token = await waitFor('the launcher to ask', async () => {
      const text = existsSync(join(at, spool.askEntry(SEGMENT))) ? readFileSync(join(at, spool.askEntry(SEGMENT)), 'utf8') : '';
      return tokenLine.parse(text) ?? undefined;
    });
    replaceFile(join(at, spool.absentEntry(SEGMENT)), tokenLine.format(token));
    const { code, pid } = await asking;
    expect(token).toBe(String(pid));
    expect(code).toBe(1);
  });

  it('starts no prefetcher where the configuration turned prefetching off', () => {
    const dir = dataDir();
    const at = spoolDir(dir, FP);
    mkdirSync(at, { recursive: true });
    writeFileSync(join(at, spool.OFF), '');
    // start_prefetcher is not among the functions run here: reaching it would fail loudly.
    expect(shell(dir, `fetch_answered ${SEGMENT} pg_wal/RECOVERYXLOG`)).toEqual({ code: 0, stdout: 'unanswered\n' });
  });
});

describe('hand-off lines read as the old readers did', () => {
  it("takes a worker pid file holding the pid alone (the first prefetcher's) as that live worker", () => {
    expect(workerPidLine.parse('1234\n')).toEqual({ pid: 1234, fingerprint: '' });
    expect(workerPidLine.parse(`1234 ${FP}\n`)).toEqual({ pid: 1234, fingerprint: FP });
    expect(workerPidLine.parse('')).toBeNull();
  });

  it('takes a claim with spaces around its pid', () => {
    expect(claimLine.parse(' 42 \n')).toBe(42);
    expect(claimLine.parse('x')).toBeNull();
  });
});
