// `restore --start`: starts the restored server and follows its recovery to the end without a
// database connection (the restored roles and pg_hba.conf are the source's): pg_control's
// state says when the server is promoted, the server log says why recovery stopped, and
// postmaster.pid says whether the server is still alive.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { chown, mkdir, open, readFile } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import { InputError } from '../errors.js';
import { waitUntil } from '../os/wait-until.js';
import type { Logger } from '../log.js';
import { pgProgram } from '../pg/binaries.js';
import { DB_IN_PRODUCTION, readClusterState } from '../pg/control-file.js';
import { runningServer } from '../pg/postmaster-pid.js';
import type { RecoveryAction } from './recovery-conf.js';
import type { Owner } from './target-dir.js';

const POLL_MS = 200;
const PROGRESS_EVERY_MS = 30_000;

export interface RecoveryOutcome {
  /** promoted: accepting writes; paused: read-only at the target; shutdown: stopped at the target. */
  state: 'promoted' | 'paused' | 'shutdown';
  elapsedMs: number;
  newTimeline?: number;
  /** Why recovery stopped, as the server logged it. */
  stopLine?: string;
  /** Commit time of the last transaction replayed, as the server logged it. */
  lastTransaction?: string;
  logFile: string;
}

export function startCommandFor(dir: string, pgVersion: number, owner: Owner | null): string {
  const pgCtl = pgProgram('pg_ctl', pgVersion);
  const cmd = `${pgCtl} -D ${dir} -l ${join(dir, 'log', 'startup.log')} start`;
  return owner?.name ? `runuser -u ${owner.name} -- ${cmd}` : cmd;
}

export async function startAndFollowRecovery(args: {
  dir: string;
  pgVersion: number;
  owner: Owner | null;
  action: RecoveryAction;
  log: Logger;
}): Promise<RecoveryOutcome> {
  const { dir, owner, log } = args;
  const started = Date.now();
  const startupLog = join(dir, 'log', 'startup.log');
  const as = owner ? { uid: owner.uid, gid: owner.gid } : {};
  await mkdir(join(dir, 'log'), { recursive: true, mode: 0o700 });
  if (owner) await chown(join(dir, 'log'), owner.uid, owner.gid);
  // -W: do not wait for connections; recovery to a far target can take hours.
  const res = await execa(pgProgram('pg_ctl', args.pgVersion), ['-D', dir, '-l', startupLog, '-W', 'start'], {
    ...as,
    reject: false,
    cwd: dir,
  });
  if (res.exitCode !== 0)
    throw new InputError(`pg_ctl could not start the restored server: ${lastLine(res.stderr || res.stdout)}; see ${startupLog}`);

  let seenPid = false;
  let lastProgress = Date.now();
  const tail = new LogTail();
  // Until recovery ends, however long it takes: the server's log and pg_control tell.
  const outcome = await waitUntil(
    async (): Promise<RecoveryOutcome | null> => {
      const logFile = await currentLogFile(dir, startupLog);
      const text = await tail.read(logFile);
      const facts = { elapsedMs: Date.now() - started, logFile, ...readOutcomeLines(text) };
      // The copied pg_control says "in production" from the start (the source was running);
      // promotion is that state once recovery.signal is gone.
      if ((await readClusterState(dir)) === DB_IN_PRODUCTION && !existsSync(join(dir, 'recovery.signal')))
        return { state: 'promoted', ...facts };
      if (/LOG:\s+pausing at the end of recovery/.test(text)) return { state: 'paused', ...facts };

      const alive = runningServer(dir) !== null;
      seenPid ||= alive;
      if (!alive && (seenPid || /(FATAL|PANIC):/.test(text))) {
        if (args.action === 'shutdown' && /shutdown at recovery target/.test(text)) return { state: 'shutdown', ...facts };
        const fatal = text
          .split('\n')
          .filter((l) => /(FATAL|PANIC):/.test(l))
          .at(-1);
        throw new InputError(
          `the restored server stopped during recovery: ${fatal?.replace(/^.*?(FATAL|PANIC):\s*/, '') ?? 'no error logged'}; see ${logFile}`,
        );
      }
      if (Date.now() - lastProgress > PROGRESS_EVERY_MS) {
        lastProgress = Date.now();
        const restored = [...text.matchAll(/restored log file "([0-9A-F.a-z]+)" from archive/g)].at(-1)?.[1];
        log.info({ restoredWal: restored, elapsedMs: Date.now() - started }, 'recovery in progress');
      }
      return null;
    },
    { timeoutMs: Infinity, everyMs: POLL_MS },
  );
  return outcome!;
}

/** Why and where recovery stopped, from the server's log. Pure. */
export function readOutcomeLines(text: string): Pick<RecoveryOutcome, 'newTimeline' | 'stopLine' | 'lastTransaction'> {
  const timeline = /selected new timeline ID: (\d+)/.exec(text)?.[1];
  const stopLine = /LOG:\s+(recovery stopping [^\n]*)/.exec(text)?.[1];
  const last = /last completed transaction was at log time ([^\n]+)/.exec(text)?.[1];
  return { newTimeline: timeline ? Number(timeline) : undefined, stopLine, lastTransaction: last?.trim() };
}

/**
 * The server log as read so far, extended by what was appended since the last call: a long
 * recovery's log is not re-read from its start five times a second.
 */
class LogTail {
  private path = '';
  private offset = 0;
  private text = '';

  async read(path: string): Promise<string> {
    if (path !== this.path) Object.assign(this, { path, offset: 0, text: '' });
    const fh = await open(path, 'r').catch(() => null);
    if (!fh) return this.text;
    try {
      const size = (await fh.stat()).size;
      if (size > this.offset) {
        const buf = Buffer.alloc(size - this.offset);
        const { bytesRead } = await fh.read(buf, 0, buf.length, this.offset);
        this.offset += bytesRead;
        this.text += buf.subarray(0, bytesRead).toString('utf8');
      }
    } finally {
      await fh.close();
    }
    return this.text;
  }
}

/** With logging_collector on, the server names its current log file in current_logfiles. */
async function currentLogFile(dir: string, fallback: string): Promise<string> {
  const text = await readFile(join(dir, 'current_logfiles'), 'utf8').catch(() => '');
  const path = /^stderr (.+)$/m.exec(text)?.[1]?.trim();
  if (!path) return fallback;
  const full = isAbsolute(path) ? path : join(dir, path);
  return existsSync(full) ? full : fallback;
}

const lastLine = (text: string) => text.trim().split('\n').at(-1) ?? '';
