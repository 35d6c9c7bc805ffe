// The jobs in the history (repository/job-history.ts) whose last run failed, as status
// problems: a failed nightly backup must not wait 25 hours for "last backup too old" to say
// so. A verify or restore test that failed with a result recorded is already judged by that
// result; only one that failed before recording it (it crashed, the store went away) is
// added here.
import type { JobKind, JobView } from '../repository/job-history.js';

/** When each job's own record says it last ended (ISO), if it has one. */
export interface RecordedResults {
  lastBackupStop?: string;
  verifyFinishedAt?: string;
  restoreTestFinishedAt?: string;
}

const RERUN: Record<JobKind, string> = {
  backup: '"pitr backup"',
  expire: '"pitr expire"',
  verify: '"pitr verify"',
  'restore-test': '"pitr restore-test"',
  dump: '"pitr dump"',
};

export function jobProblems(lastJobs: ReadonlyMap<JobKind, JobView>, results: RecordedResults): { kind: JobKind; message: string }[] {
  const problems: { kind: JobKind; message: string }[] = [];
  for (const [kind, job] of lastJobs) {
    if (job.status !== 'failed') continue;
    const ownResult =
      kind === 'backup'
        ? results.lastBackupStop
        : kind === 'verify'
          ? results.verifyFinishedAt
          : kind === 'restore-test'
            ? results.restoreTestFinishedAt
            : undefined;
    // A later success that left no history (an older pitr) or a failure its result judges.
    if (ownResult !== undefined && ownResult >= job.startedAt) continue;
    problems.push({
      kind,
      message: `the last ${kind} job ${job.id} (started ${job.startedAt} on ${job.host}) failed: ${job.error ?? 'no reason recorded'}: fix that and run ${RERUN[kind]} again ("pitr history" lists the jobs)`,
    });
  }
  return problems;
}
