// The agent's schedules: cron expressions of 5 fields, or 6 with seconds first (croner reads
// them, in PITR_TIMEZONE), or "off". Checked all at once when the agent starts or reloads, so
// a typo is one error naming the key, before anything runs.
import { Cron } from 'croner';
import { SCHEDULED_JOBS, type AgentSettings, type ScheduledJob } from '../config/config.js';
import { ConfigError } from '../errors.js';

export const SCHEDULE_KEYS: Record<ScheduledJob, string> = {
  backup: 'PITR_SCHEDULE_BACKUP',
  verify: 'PITR_SCHEDULE_VERIFY',
  'restore-test': 'PITR_SCHEDULE_RESTORE_TEST',
  dump: 'PITR_SCHEDULE_DUMP',
};

export interface Schedule {
  job: ScheduledJob;
  expression: string;
  /** The first run strictly after `after`, or null when the expression never fires again. */
  next(after: Date): Date | null;
  /** The last run at or before `at`, or null when there was none. */
  previous(at: Date): Date | null;
}

/** The enabled schedules; a bad expression is a ConfigError naming its key. */
export function parseSchedules(settings: Pick<AgentSettings, 'schedules'>, timeZone: string): Schedule[] {
  const schedules: Schedule[] = [];
  for (const job of SCHEDULED_JOBS) {
    const expression = settings.schedules[job].trim();
    if (expression.toLowerCase() === 'off') continue;
    const key = SCHEDULE_KEYS[job];
    const fields = expression.split(/\s+/).length;
    if (fields !== 5 && fields !== 6)
      throw new ConfigError(
        `${key} "${expression}" has ${fields} field(s): write a cron expression of 5 fields (minute hour day month weekday), 6 with seconds first, or off`,
      );
    let cron: Cron;
    try {
      cron = new Cron(expression, { paused: true, timezone: timeZone });
    } catch (err) {
      throw new ConfigError(
        `${key} "${expression}" is not a cron expression (${(err as Error).message}): e.g. "0 2 * * *" for 02:00 daily, or off`,
      );
    }
    if (cron.nextRun() === null) throw new ConfigError(`${key} "${expression}" never fires: give a schedule that recurs, or off`);
    schedules.push({
      job,
      expression,
      next: (after) => cron.nextRun(after),
      previous: (at) => {
        // croner's previousRuns look back from a time; a run exactly at `at` counts.
        const [last] = cron.previousRuns(1, new Date(at.getTime() + 1));
        return last ?? null;
      },
    });
  }
  return schedules;
}
