// Runs a job (backup, expire, verify, restore-test) with its record in the repository's history
// (repository/job-history.ts): "running" before it starts, a heartbeat while it runs, its
// result when it ends, and "failed: interrupted" when a signal stops it. Started by the agent,
// a job takes the id and trigger the agent chose (PITR_JOB_ID, PITR_JOB_TRIGGER in its
// environment), so the agent (and its API) can follow the job it started.
import { PitrError } from '../errors.js';
import type { Logger } from '../log.js';
import { onInterrupt } from '../os/interrupt.js';
import {
  HEARTBEAT_MS,
  newJobId,
  parseJobId,
  pruneHistory,
  runningRecord,
  writeJobRecord,
  type JobKind,
  type JobRecord,
  type JobTrigger,
} from '../repository/job-history.js';
import { readIdentity } from '../repository/identity.js';
import type { Storage } from '../storage/storage.js';

export const JOB_ID_ENV = 'PITR_JOB_ID';
export const JOB_TRIGGER_ENV = 'PITR_JOB_TRIGGER';

export interface JobOutcome {
  status: 'passed' | 'failed';
  bytes?: number | null;
  error?: string | null;
}

export interface RecordedJob<T> {
  storage: Storage;
  log: Logger;
  kind: JobKind;
  run: () => Promise<T>;
  /** The result as history records it (a report can fail without throwing: verify, restore-test). */
  outcome: (result: T) => JobOutcome;
  env?: NodeJS.ProcessEnv;
}

export async function runRecordedJob<T>(job: RecordedJob<T>): Promise<T> {
  const { storage, log, kind } = job;
  const env = job.env ?? process.env;
  const given = env[JOB_ID_ENV];
  const id = given && parseJobId(given)?.kind === kind ? given : newJobId(kind);
  const trigger: JobTrigger = env[JOB_TRIGGER_ENV] === 'schedule' || env[JOB_TRIGGER_ENV] === 'api' ? env[JOB_TRIGGER_ENV] : 'cli';
  const record = runningRecord(id, kind, trigger);
  const started = performance.now();
  // History is how a job is seen, not what it does: a record that cannot be written is
  // reported, and the job goes on (it meets the same store, and fails on its own if it must).
  // Only into a repository: a wrong --repo must not gain a history/ folder. The first backup
  // into an empty one binds it as it runs, so its record is written once it ends.
  let bound = (await readIdentity(storage).catch(() => null)) !== null;
  // Writes go one after another, and none after the result: a heartbeat still on its way
  // (S3 latency) must not land over the final record and turn it back into "running".
  let writing: Promise<void> = Promise.resolve();
  let ended = false;
  const write = (r: Omit<JobRecord, 'format'>) => {
    if (ended) return writing;
    if (r.status !== 'running') ended = true;
    writing = writing.then(async () => {
      bound ||= r.status !== 'running' && (await readIdentity(storage).catch(() => null)) !== null;
      if (bound) await writeJobRecordReported(r);
    });
    return writing;
  };
  const writeJobRecordReported = (r: Omit<JobRecord, 'format'>) =>
    writeJobRecord(storage, r).catch((err: unknown) =>
      log.warn({ job: id, err: (err as Error).message }, `cannot record job ${id} in the history: ${(err as Error).message}`),
    );
  const finish = (outcome: JobOutcome) => {
    const now = new Date();
    return write({
      ...record,
      status: outcome.status,
      heartbeatAt: now.toISOString(),
      finishedAt: now.toISOString(),
      durationSeconds: Math.round(performance.now() - started) / 1000,
      bytes: outcome.bytes ?? null,
      error: outcome.error ?? null,
    });
  };

  await write(record);
  const heartbeat = setInterval(() => void write({ ...record, heartbeatAt: new Date().toISOString() }), HEARTBEAT_MS);
  heartbeat.unref();
  const forget = onInterrupt(async (signal) => {
    clearInterval(heartbeat);
    await finish({ status: 'failed', error: `interrupted by ${signal}` });
  });
  try {
    const result = await job.run();
    clearInterval(heartbeat);
    await finish(job.outcome(result));
    return result;
  } catch (err) {
    clearInterval(heartbeat);
    await finish({ status: 'failed', error: errorLine(err) });
    throw err;
  } finally {
    forget();
    await pruneHistory(storage).catch(() => undefined);
  }
}

function errorLine(err: unknown): string {
  if (err instanceof PitrError) return err.message;
  return `unexpected error: ${(err as Error)?.message ?? String(err)}`;
}
