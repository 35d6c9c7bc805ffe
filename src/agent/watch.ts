// One health watch of the agent: everything `pitr status` judges (the repository, archiving,
// backups, verify, restore tests, the jobs' last results), plus the schedules it missed and
// its own notification channels; then the notifications for every check whose health changed
// since the last watch (agent/health-changes.ts).
import { hostname } from 'node:os';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import type { Notification } from '../notify/notification.js';
import type { ChannelHealth } from '../repository/agent-state.js';
import { readDatabaseFacts } from '../status/database.js';
import { collectStatus, type HealthCheck, type StatusReport } from '../status/status.js';
import type { Storage } from '../storage/storage.js';
import type { RepositoryReads } from '../repository/repository-reads.js';
import { formatDuration } from '../config/duration.js';
import { healthChanges, type HealthChange, type NotifiedChecks } from './health-changes.js';
import { missedGraceMs, missedSchedules } from './missed-schedules.js';
import type { Schedule } from './schedules.js';

export interface WatchInputs {
  config: Config;
  storage: Storage;
  /** The agent's kept reads of the repository (repository/kept-reads.ts). */
  reads: RepositoryReads;
  schedules: readonly Schedule[];
  notified: NotifiedChecks;
  /** Since when each schedule has been watched as written (schedules due before that are nobody's miss). */
  watchedSince: (s: Schedule) => Date;
  /** The agent's channels as it knows them now (fresher than what status reads from the repository). */
  channels: readonly ChannelHealth[];
  now: Date;
  log: Logger;
}

export interface WatchResult {
  report: StatusReport;
  failing: { check: HealthCheck; message: string }[];
  notified: NotifiedChecks;
  notifications: Notification[];
}

export async function watchHealth(w: WatchInputs): Promise<WatchResult> {
  const database = await readDatabaseFacts(w.config);
  const report = await collectStatus({
    storage: w.storage,
    reads: w.reads,
    database,
    alerts: w.config.alerts,
    retention: w.config.retention,
    now: w.now,
  });
  const failing = failingChecks(report, w, missedGraceMs(w.config.agent.watchIntervalMs));
  const { changes, notified } = healthChanges(w.notified, failing, w.now);
  for (const c of changes)
    w.log[c.status === 'failing' ? 'warn' : 'info'](
      { check: c.check, status: c.status, since: c.since },
      `${c.check} ${c.status}: ${c.message}`,
    );
  return { report, failing, notified, notifications: changes.map((c) => notificationOf(c, w.storage.url, w.now)) };
}

/** Every failing check as the agent judges it: status's, its missed schedules, its own channels. */
export function failingChecks(
  report: Pick<StatusReport, 'failing' | 'repositoryReachable' | 'jobs'> & { database: { reachable: boolean } },
  w: Pick<WatchInputs, 'schedules' | 'notified' | 'watchedSince' | 'channels' | 'now'>,
  graceMs: number,
): { check: HealthCheck; message: string }[] {
  // The agent is its own witness: what the repository says of it (its last heartbeat, its
  // channels at the last watch) is older than what it knows.
  const failing = report.failing.filter((f) => f.check !== 'agent' && f.check !== 'notify');
  if (report.repositoryReachable) failing.push(...missedSchedules(w.schedules, report.jobs, w.watchedSince, w.now, graceMs));
  else {
    // A repository that cannot be read says nothing of backups, verify, restore tests or the
    // jobs (nor of archiving, without the database): what was failing stays failing, no false
    // "recovered", until it can be read again.
    const judged = new Set<string>(['repository', 'notify', ...(report.database.reachable ? ['archiving'] : [])]);
    for (const [check, was] of Object.entries(w.notified))
      if (!judged.has(check) && !failing.some((f) => f.check === check))
        failing.push({ check: check as HealthCheck, message: was.message });
  }
  // Channels start healthy with the agent: one not tried yet says nothing, and a "notify"
  // failure notified before a restart (or reload) stays until a channel has been tried.
  const untried = w.channels.some((c) => c.healthy && c.failedAttempts === 0 && !c.lastSentAt);
  if (w.notified.notify && untried && w.channels.every((c) => c.healthy))
    failing.push({ check: 'notify', message: w.notified.notify.message });
  for (const c of w.channels.filter((ch) => !ch.healthy))
    failing.push({
      check: 'notify',
      message: `notification channel ${c.name} (${c.target}) has failed ${c.failedAttempts} time(s) since ${c.failingSince}: ${c.lastError ?? 'no error recorded'}`,
    });
  return failing;
}

const FIX = 'run "pitr status" on the agent\'s host for every detail; docs/operations.md says what each alert means and what to do';

function notificationOf(c: HealthChange, repo: string, now: Date): Notification {
  const lasted = formatDuration(Math.max(0, now.getTime() - Date.parse(c.since)));
  return {
    event: `${c.check}-${c.status}`,
    status: c.status,
    job: c.check,
    host: hostname(),
    repo,
    message: c.status === 'failing' ? c.message : `${c.check} is healthy again after ${lasted}; it was: ${c.message}`,
    since: c.since,
    fix: c.status === 'failing' ? FIX : 'nothing: this is the all-clear',
    time: now.toISOString(),
  };
}
