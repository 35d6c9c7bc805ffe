// The agent's jobs, one at a time, each in its own process: `pitr backup`, `verify`,
// `restore-test`, `expire`, as an operator would run them, with the agent's flags. A job that
// crashes, leaks or hangs takes its own process down, never the agent; its history record
// (jobs/recorded-job.ts) carries the id the agent chose, so the agent can follow it.
//
// Jobs never overlap: a job asked for while another runs waits its turn; asked for again while
// it is already running or waiting, it is skipped, and the skip is recorded in the history.
import { spawn, type ChildProcess } from 'node:child_process';
import { JOB_ID_ENV, JOB_TRIGGER_ENV } from '../jobs/recorded-job.js';
import type { Logger } from '../log.js';
import { newJobId, readJobRecord, runningRecord, writeJobRecord, type JobKind, type JobTrigger } from '../repository/job-history.js';
import type { Storage } from '../storage/storage.js';

/** How long a stopping agent waits for its job to end after SIGTERM, before SIGKILL. */
const STOP_GRACE_MS = 25_000;
/** The tail of a job's stderr kept for the agent's log when it fails. */
const STDERR_TAIL_LINES = 20;

export interface JobRequest {
  id: string;
  kind: JobKind;
  trigger: JobTrigger;
}

export interface JobEnd extends JobRequest {
  exitCode: number | null;
  signal: NodeJS.Signals | null;
  /** The last error line the job logged, when it failed. */
  error: string | null;
}

export interface JobRunnerOptions {
  /** The launcher (bin/pitr) and the flags the agent was given, which every job gets too. */
  pitr: string;
  flags: readonly string[];
  storage: () => Storage;
  log: Logger;
  onEnd: (end: JobEnd) => void;
  onSkip?: (kind: JobKind) => void;
  env?: NodeJS.ProcessEnv;
}

export class JobRunner {
  private readonly queue: JobRequest[] = [];
  private current: { request: JobRequest; child: ChildProcess; done: Promise<void> } | null = null;
  private stopping = false;

  constructor(private readonly o: JobRunnerOptions) {}

  /** The job running now, if any. */
  get running(): JobRequest | null {
    return this.current?.request ?? null;
  }

  /** Queues `kind`; null when it is skipped (already running or waiting: the skip is recorded). */
  async request(kind: JobKind, trigger: JobTrigger): Promise<JobRequest | null> {
    const id = newJobId(kind);
    const busy = this.current?.request.kind === kind ? this.current.request : this.queue.find((q) => q.kind === kind);
    if (this.stopping || busy) {
      const reason = this.stopping
        ? 'the agent is stopping'
        : `${kind} ${busy!.id} is still ${busy === this.current?.request ? 'running' : 'waiting to run'}`;
      this.o.log.warn({ job: id, kind, trigger }, `${kind} skipped: ${reason}`);
      this.o.onSkip?.(kind);
      const now = new Date();
      await writeJobRecord(this.o.storage(), {
        ...runningRecord(id, kind, trigger, now),
        status: 'skipped',
        finishedAt: now.toISOString(),
        durationSeconds: 0,
        error: `skipped: ${reason}`,
      }).catch((err: unknown) => this.o.log.warn({ job: id }, `cannot record the skip of ${id}: ${(err as Error).message}`));
      return null;
    }
    const request = { id, kind, trigger };
    this.queue.push(request);
    this.next();
    return request;
  }

  /** Stops taking jobs, asks the running one to stop (SIGTERM, then SIGKILL) and waits for it. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.queue.length = 0;
    const current = this.current;
    if (!current) return;
    current.child.kill('SIGTERM');
    const killer = setTimeout(() => current.child.kill('SIGKILL'), STOP_GRACE_MS);
    await current.done;
    clearTimeout(killer);
  }

  private next(): void {
    if (this.current || this.stopping) return;
    const request = this.queue.shift();
    if (!request) return;
    const { id, kind, trigger } = request;
    this.o.log.info({ job: id, kind, trigger }, `${kind} started (${id})`);
    const child = spawn(this.o.pitr, [...this.o.flags, kind], {
      env: { ...(this.o.env ?? process.env), [JOB_ID_ENV]: id, [JOB_TRIGGER_ENV]: trigger },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const tail: string[] = [];
    let partial = '';
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
      const lines = (partial + chunk).split('\n');
      partial = lines.pop()!;
      tail.push(...lines.filter((l) => l.trim() !== ''));
      tail.splice(0, Math.max(0, tail.length - STDERR_TAIL_LINES));
    });
    const done = new Promise<void>((resolve) => {
      let finished = false;
      const finish = (exitCode: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
        if (finished) return;
        finished = true;
        const error =
          exitCode === 0 ? null : (spawnError?.message ?? lastError(tail) ?? (signal ? `ended by ${signal}` : `exit code ${exitCode}`));
        void this.ended({ ...request, exitCode, signal, error }).finally(() => {
          this.current = null;
          resolve();
          this.next();
        });
      };
      child.once('error', (err) => finish(null, null, err));
      // 'close', not 'exit': its stderr is then read to the end (the last error line included).
      child.once('close', (code, signal) => finish(code, signal));
    });
    this.current = { request, child, done };
  }

  private async ended(end: JobEnd): Promise<void> {
    const { id, kind } = end;
    if (end.exitCode === 0) this.o.log.info({ job: id, kind }, `${kind} passed (${id})`);
    else this.o.log.error({ job: id, kind, exitCode: end.exitCode, signal: end.signal }, `${kind} failed (${id}): ${end.error}`);
    // A job killed outright (SIGKILL, out of memory) or that could not start wrote no result.
    await this.settleRecord(end).catch((err: unknown) =>
      this.o.log.warn({ job: id }, `cannot record the end of ${id}: ${(err as Error).message}`),
    );
    try {
      this.o.onEnd(end);
    } catch (err) {
      this.o.log.error({ job: id, err }, `after ${id}: ${(err as Error).message}`);
    }
  }

  private async settleRecord(end: JobEnd): Promise<void> {
    const storage = this.o.storage();
    const record = await readJobRecord(storage, end.id).catch(() => null);
    if (record && record.status !== 'running') return;
    // Passed without a record: the first backup into an empty repository, which binds it as it
    // ends. Failed without one: it stopped before recording itself (a bad setting, say).
    if (!record && end.exitCode === 0) return;
    const now = new Date();
    const base = record ?? runningRecord(end.id, end.kind, end.trigger, now);
    await writeJobRecord(storage, {
      ...base,
      status: 'failed',
      heartbeatAt: now.toISOString(),
      finishedAt: now.toISOString(),
      durationSeconds: Math.max(0, (now.getTime() - Date.parse(base.startedAt)) / 1000),
      error: end.error ?? 'ended without a result',
    });
  }
}

/** The message of the last error a job logged (pino JSON, or a plain "pitr x: ..." line). */
function lastError(lines: readonly string[]): string | null {
  for (const line of [...lines].reverse()) {
    try {
      const entry = JSON.parse(line) as { level?: number; msg?: string };
      if ((entry.level ?? 0) >= 50 && entry.msg) return entry.msg;
    } catch {
      if (line.startsWith('pitr ')) return line;
    }
  }
  return null;
}
