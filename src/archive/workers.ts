// Background workers (the resident archiver, the prefetcher): started detached by a WAL
// command that had to do its own work, with that call's own flags, so that they compute the
// same invocation fingerprint. Their output goes nowhere: PostgreSQL waits on its command's
// exit only. A worker's failure surfaces through PostgreSQL's next call, which then finds
// nothing done ahead, reaches Node and reports it.
//
// Each worker holds a pid file "<pid> <fingerprint>", created exclusively; the launcher reads
// it to know whether to wait for the worker.
import { spawn } from 'node:child_process';
import { mkdir, readFile, unlink } from 'node:fs/promises';
import { dirname } from 'node:path';
import { START_ENV } from '../launcher/fingerprint.js';
import { workerPidLine, type WorkerPid } from '../launcher/handoff.js';
import { takePidFile } from '../os/pid-file.js';
import { processAlive } from '../os/process.js';
import { waitUntil } from '../os/wait-until.js';

export function startWorker(command: string, args: string[], flags: string[], cwd: string): void {
  const child = spawn(process.execPath, [process.argv[1]!, ...flags, command, ...args], {
    detached: true,
    stdio: 'ignore',
    cwd,
    env: START_ENV,
  });
  // A failed spawn (no processes left, say) is reported as an event: without a listener it
  // would crash the command that has already done its own work.
  child.on('error', () => undefined);
  child.unref();
}

export type { WorkerPid } from '../launcher/handoff.js';

/**
 * The worker in `pidFile` when it still runs `command`. Checked against /proc: a stale pid
 * file may name a pid the system has since given to another process.
 */
export async function liveWorker(pidFile: string, command: string): Promise<WorkerPid | null> {
  const worker = workerPidLine.parse(await readFile(pidFile, 'utf8').catch(() => ''));
  if (worker === null || worker.pid <= 0 || !processAlive(worker.pid)) return null;
  const cmdline = await readFile(`/proc/${worker.pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.split('\0').includes(command) ? worker : null;
}

/**
 * Takes the worker's pid file. A live worker of the same fingerprint keeps it (false); one of
 * another fingerprint is stopped and replaced.
 */
export async function lockWorker(pidFile: string, command: string, fingerprint: string): Promise<boolean> {
  await mkdir(dirname(pidFile), { recursive: true, mode: 0o700 });
  // Two calls of different configurations may start workers at the same moment: the later
  // one stops the earlier (waiting for it to go), so that one worker serves each place.
  const stale = async () => {
    const verdict = await waitUntil(
      async () => {
        const holder = await liveWorker(pidFile, command);
        if (holder === null) return 'stale';
        if (holder.pid === process.pid || holder.fingerprint === fingerprint) return 'kept';
        try {
          process.kill(holder.pid, 'SIGTERM');
        } catch {
          // gone already
        }
        return null;
      },
      { timeoutMs: 1000, everyMs: 20 },
    );
    return verdict === 'stale';
  };
  return takePidFile(pidFile, workerPidLine.format({ pid: process.pid, fingerprint }), stale, 3);
}

export async function unlockWorker(pidFile: string): Promise<void> {
  if (workerPidLine.parse(await readFile(pidFile, 'utf8').catch(() => ''))?.pid === process.pid)
    await unlink(pidFile).catch(() => undefined);
}

/** Sleeps until `ms` have passed or wake() is called; a wake() with nobody waiting is kept for the next wait. */
export function waiter(): { wait: (ms: number) => Promise<void>; wake: () => void } {
  let pending = false;
  let settle: (() => void) | null = null;
  return {
    wait: (ms) => {
      if (pending) {
        pending = false;
        return Promise.resolve();
      }
      return new Promise<void>((resolve) => {
        const t = setTimeout(() => settle?.(), ms);
        settle = () => {
          clearTimeout(t);
          settle = null;
          resolve();
        };
      });
    },
    wake: () => {
      if (settle) settle();
      else pending = true;
    },
  };
}
