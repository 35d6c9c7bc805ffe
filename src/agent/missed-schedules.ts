// A schedule the agent missed: its last run came due (more than a grace period ago, for a job
// that waited its turn behind another) while this agent watched the repository, and no job
// of its kind started at or after that time: an agent that was down at that moment, or a
// clock jump. A job that ran and failed is the history's to report.
import type { JobKind, JobView } from '../repository/job-history.js';
import type { Schedule } from './schedules.js';
import { SCHEDULE_KEYS } from './schedules.js';

export interface MissedSchedule {
  check: JobKind;
  message: string;
}

/** How late a job may start after its time (it may wait behind another) before it counts as missed. */
export function missedGraceMs(watchIntervalMs: number): number {
  return Math.max(10 * 60_000, 2 * watchIntervalMs);
}

export function missedSchedules(
  schedules: readonly Schedule[],
  lastJobs: readonly JobView[],
  /** Since when an agent has watched this repository with this schedule: a time due before it is nobody's miss. */
  watchedSince: (s: Schedule) => Date,
  now: Date,
  graceMs: number,
): MissedSchedule[] {
  const missed: MissedSchedule[] = [];
  for (const s of schedules) {
    const due = s.previous(new Date(now.getTime() - graceMs));
    if (!due || due < watchedSince(s)) continue;
    const last = lastJobs.find((j) => j.kind === s.job);
    // A skip counts as a start: a job is skipped only while one of its kind runs or waits.
    // A job started just before its time (a clock a second early) still counts.
    const started = last ? Date.parse(last.startedAt) : -Infinity;
    if (started >= due.getTime() - 60_000) continue;
    missed.push({
      check: s.job,
      message:
        `the ${s.job} scheduled for ${due.toISOString()} (${SCHEDULE_KEYS[s.job]} "${s.expression}") has not started: ` +
        `the agent was down or its clock jumped; check the agent's log, or run "pitr ${s.job}" now`,
    });
  }
  return missed;
}
