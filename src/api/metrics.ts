// The agent's Prometheus metrics (prom-client), the contract's names, from what the agent last
// saw: its last health watch (a StatusReport) and the jobs it ran. Every gauge is there from
// the first scrape, 0 meaning "never"; a scrape never waits for the repository.
import { Counter, Gauge, Registry } from 'prom-client';
import { JOB_KINDS } from '../repository/job-history.js';
import type { StatusReport } from '../status/status.js';

export const JOB_RESULTS = ['passed', 'failed', 'skipped'] as const;
export type JobResult = (typeof JOB_RESULTS)[number];

const seconds = (iso: string | null | undefined) => (iso ? Date.parse(iso) / 1000 : 0);

export interface AgentMetrics {
  registry: Registry;
  /** Sets every gauge from the last health watch (null: none yet, or the repository unread). */
  observe(report: StatusReport | null, watchedAt: Date | null): void;
  countJob(job: string, result: JobResult): void;
}

export function agentMetrics(): AgentMetrics {
  const registry = new Registry();
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers: [registry] });
  const g = {
    up: gauge('pitr_up', '1 when the last health watch read the repository, else 0'),
    healthy: gauge('pitr_healthy', '1 when the last health watch found no problem (as pitr status), else 0'),
    lastBackup: gauge('pitr_last_backup_timestamp_seconds', 'when the newest backup ended (0: none)'),
    lastBackupDuration: gauge('pitr_last_backup_duration_seconds', 'how long the newest backup took'),
    lastBackupSize: gauge('pitr_last_backup_size_bytes', "the newest backup's size as pg_basebackup counted it"),
    backups: gauge('pitr_backups', 'complete backups in the repository'),
    lastArchived: gauge('pitr_wal_last_archived_timestamp_seconds', 'when the newest WAL segment was stored (0: none)'),
    backlog: gauge('pitr_wal_archive_backlog_segments', 'WAL files waiting to be archived (.ready), when the database answers'),
    windowStart: gauge('pitr_restorable_window_start_timestamp_seconds', 'the earliest time a restore can reach (0: none)'),
    windowEnd: gauge('pitr_restorable_window_end_timestamp_seconds', 'the latest time a restore can reach (0: none)'),
    size: gauge('pitr_repository_size_bytes', 'bytes stored: WAL objects and backups'),
    verify: gauge('pitr_last_verify_success_timestamp_seconds', 'when a verify last passed (0: never seen)'),
    restoreTest: gauge('pitr_last_restore_test_success_timestamp_seconds', 'when a restore test last passed (0: never seen)'),
    rto: gauge('pitr_last_restore_test_rto_seconds', 'the RTO the last passing restore test measured'),
    watch: gauge('pitr_last_health_watch_timestamp_seconds', "when the agent's last health watch ended (0: none yet)"),
    problems: gauge('pitr_problems', 'problems the last health watch found, as pitr status names them'),
  };
  const runs = new Counter({
    name: 'pitr_job_runs_total',
    help: 'jobs the agent ran, by kind and result',
    labelNames: ['job', 'result'],
    registers: [registry],
  });
  for (const job of JOB_KINDS) for (const result of JOB_RESULTS) runs.inc({ job, result }, 0);
  for (const m of Object.values(g)) m.set(0);
  // A verify or restore test that fails after passing leaves its last success standing.
  let verifyPassed = 0;
  let restoreTestPassed = 0;
  return {
    registry,
    observe(r, watchedAt) {
      g.watch.set(watchedAt ? watchedAt.getTime() / 1000 : 0);
      if (!r) return;
      g.up.set(r.repositoryReachable ? 1 : 0);
      g.healthy.set(r.healthy ? 1 : 0);
      g.problems.set(r.problems.length);
      if (!r.repositoryReachable) return; // the repository's figures stay as last read
      g.lastBackup.set(seconds(r.lastBackup?.stopTime));
      g.lastBackupDuration.set(r.lastBackupSize?.durationSeconds ?? 0);
      g.lastBackupSize.set(r.lastBackupSize?.bytes ?? 0);
      g.backups.set(r.backups);
      g.lastArchived.set(seconds(r.lastArchived?.at));
      g.backlog.set(r.database.reachable ? (r.database.backlog?.ready ?? 0) : 0);
      g.windowStart.set(seconds(r.restorableWindow?.from));
      g.windowEnd.set(seconds(r.restorableWindow?.to));
      g.size.set(r.storedBytes.wal + r.storedBytes.backups);
      if (r.lastVerify?.result === 'passed') verifyPassed = Math.max(verifyPassed, seconds(r.lastVerify.finishedAt));
      g.verify.set(verifyPassed);
      const t = r.lastRestoreTest;
      if (t?.result === 'passed') {
        restoreTestPassed = Math.max(restoreTestPassed, seconds(t.finishedAt));
        g.rto.set(t.rtoSeconds ?? 0);
      }
      g.restoreTest.set(restoreTestPassed);
    },
    countJob: (job, result) => runs.inc({ job, result }),
  };
}
