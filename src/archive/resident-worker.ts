// The loop both resident workers run, the archiver and the prefetcher, around a step of their
// own: the pid file that makes one worker per place (workers.ts), the wake pipe bin/pitr
// blocks on for news of a file (os/wake-pipe.ts), inotify on the directory whose changes are
// the worker's news (plus a 250 ms poll), the files in flight, the first failure (which ends
// the run and is thrown, for PostgreSQL's next call to meet), and the idle exit: after
// `idleMs` with nothing to do, or at once once the server is gone.
import { existsSync, mkdirSync, watch, type FSWatcher } from 'node:fs';
import { dirname, join } from 'node:path';
import { openWakePipe, type WakePipe } from '../os/wake-pipe.js';
import { lockWorker, unlockWorker, waiter } from './workers.js';

export interface ResidentOptions {
  /** The worker's command word, as /proc/<pid>/cmdline shows it, and its pid file. */
  command: string;
  pidFile: string;
  fingerprint: string;
  dataDir: string;
  /** The directory whose changes are news; the run ends when it is gone. */
  watchDir: string;
  /** Where bin/pitr blocks for news of the files in flight. */
  wakePipe: string;
  idleMs: number;
  /** While this holds, idling is no reason to stop (the agent keeps the archiver warm while it lives). */
  stayWhile?: () => boolean;
}

const BUSY_POLL_MS = 250;
const IDLE_POLL_MS = 1000;

/** What a turn of the loop found: work under way, nothing to do, or a reason to stop. */
export type Turn = 'busy' | 'idle' | 'stop';

/** What a worker's step sees of the loop. */
export interface Resident {
  readonly inflight: ReadonlyMap<string, Promise<void>>;
  /** Runs `work` for `name`; its end wakes the loop and bin/pitr, and its failure ends the run. */
  track(name: string, work: Promise<unknown>): void;
  /** Ends the run with `err` (the first failure wins). */
  fail(err: unknown): void;
  /** Runs the next turn now. */
  wake(): void;
  /** Starts the idle clock again: there was something to do. */
  active(): void;
}

export interface ResidentStep {
  /** Once the pid file is taken and the wake pipe open; false: nothing to do, end the run. */
  start?(r: Resident): Promise<boolean>;
  turn(r: Resident): Promise<Turn>;
  /** After the last turn, before the files in flight are waited for. */
  finish?(r: Resident): Promise<void>;
  /** Always, last, before the pid file is released. */
  cleanup?(): void | Promise<void>;
}

/** Runs the worker until idle, gone, stopped or failed; false when another worker holds the place. */
export async function runResident(o: ResidentOptions, step: ResidentStep): Promise<boolean> {
  if (!(await lockWorker(o.pidFile, o.command, o.fingerprint))) return false;
  const { wait, wake } = waiter();
  const inflight = new Map<string, Promise<void>>();
  let failure: { err: unknown } | null = null;
  let idleSince = performance.now();
  let callers: WakePipe | undefined;
  let watcher: FSWatcher | undefined;
  const resident: Resident = {
    inflight,
    track(name, work) {
      const job = work
        .then(() => undefined)
        .catch((err: unknown) => resident.fail(err))
        .finally(() => {
          inflight.delete(name);
          callers?.wake(name);
          wake();
        });
      inflight.set(name, job);
    },
    fail: (err) => void (failure ??= { err }),
    wake,
    active: () => void (idleSince = performance.now()),
  };
  try {
    mkdirSync(dirname(o.wakePipe), { recursive: true, mode: 0o700 }); // the pipe needs its directory
    callers = openWakePipe(o.wakePipe);
    if (step.start && !(await step.start(resident))) return true;
    watcher = watch(o.watchDir, wake);
    watcher.on('error', wake);
    while (failure === null && existsSync(o.watchDir)) {
      const turn = await step.turn(resident);
      if (turn === 'stop') break;
      const gone = () => !existsSync(join(o.dataDir, 'postmaster.pid'));
      if (turn === 'idle' && ((performance.now() - idleSince > o.idleMs && !o.stayWhile?.()) || gone())) break;
      // inotify wakes the loop at once; the poll only covers a missed event. Idle, a slower one
      // keeps a worker held warm by the agent nearly free.
      await wait(turn === 'idle' ? IDLE_POLL_MS : BUSY_POLL_MS);
    }
    await step.finish?.(resident);
    await Promise.all(inflight.values());
  } finally {
    watcher?.close();
    callers?.close();
    await step.cleanup?.();
    await unlockWorker(o.pidFile);
  }
  if (failure !== null) throw (failure as { err: unknown }).err;
  return true;
}
