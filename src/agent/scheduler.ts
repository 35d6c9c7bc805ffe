// Fires each schedule's job at its times. One timer per schedule, armed for its next run;
// long waits (a monthly restore test) are cut into steps a timer can hold, and a timer that
// wakes early only re-arms.
import type { ScheduledJob } from '../config/config.js';
import type { Schedule } from './schedules.js';

/** setTimeout holds at most 2^31-1 ms (24.8 days); a monthly schedule waits longer. */
const LONGEST_WAIT_MS = 24 * 3_600_000;

export interface Scheduler {
  /** Each schedule and its next run. */
  upcoming(): { job: ScheduledJob; expression: string; next: string | null }[];
  stop(): void;
}

export function startScheduler(schedules: readonly Schedule[], fire: (job: ScheduledJob) => void): Scheduler {
  const timers = new Map<ScheduledJob, NodeJS.Timeout>();
  const nextRuns = new Map<ScheduledJob, Date | null>();
  let stopped = false;
  const arm = (s: Schedule) => {
    if (stopped) return;
    const next = s.next(new Date());
    nextRuns.set(s.job, next);
    if (!next) return;
    const wait = () => {
      const left = next.getTime() - Date.now();
      if (left > 0) {
        timers.set(s.job, setTimeout(wait, Math.min(left, LONGEST_WAIT_MS)));
        return;
      }
      fire(s.job);
      arm(s);
    };
    wait();
  };
  for (const s of schedules) arm(s);
  return {
    upcoming: () => schedules.map((s) => ({ job: s.job, expression: s.expression, next: nextRuns.get(s.job)?.toISOString() ?? null })),
    stop() {
      stopped = true;
      for (const t of timers.values()) clearTimeout(t);
    },
  };
}
