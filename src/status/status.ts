// Health for `pitr status`: the facts (the repository's identity, WAL, backups, restorable
// window, last verify and restore test; the database's archiver and `.ready` backlog when it
// is reachable), then every problem (unhealthy: exit 11) and warning, one line each, saying
// what is wrong and what to do. Never healthy with no backup, a gap in the restorable window's
// WAL, or archiving failing.
import type { AlertSettings, RetentionSettings } from '../config/config.js';
import { formatDuration } from '../config/duration.js';
import { IntegrityError, PitrError } from '../errors.js';
import type { BackupManifest } from '../repository/backups.js';
import { readIdentity, type RepositoryIdentity } from '../repository/identity.js';
import { readLastVerifyRun, type VerifyRun } from '../repository/verify-results.js';
import { describeInterruptedExpire, readExpireIntent } from '../repository/expire-intent.js';
import { readHistories, type WalView } from '../repository/wal-inventory.js';
import { freshReads, type RepositoryReads } from '../repository/repository-reads.js';
import { describeWindow, restorableWindow, type RestorableWindow } from '../repository/restorable-window.js';
import type { Storage } from '../storage/storage.js';
import { parseLsn } from '../wal/names.js';
import { requiredSegments, segmentNumberOfName, segmentOnHistory } from '../wal/segments.js';
import { isOnHistory, rootHistory, type TimelineSpan } from '../wal/timeline-history.js';
import type { DatabaseFacts } from './database.js';
import { readLastRestoreTest, type RestoreTestRun } from '../repository/restore-test-results.js';
import { lastJobOfEachKind, type JobView } from '../repository/job-history.js';
import { jobProblems } from './job-problems.js';
import { readAgentState, type AgentState } from '../repository/agent-state.js';

const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

export interface StatusReport {
  repository: string;
  healthy: boolean;
  problems: string[];
  /** Each problem with the check it belongs to (same order as `problems`). */
  failing: { check: HealthCheck; message: string }[];
  warnings: string[];
  /** null when the store could not be read (then a problem says why). */
  identity: RepositoryIdentity | null;
  repositoryReachable: boolean;
  timelines: { timeline: string; lastWal: string | null; lastArchivedAt: string | null; ageSeconds: number | null }[];
  lastArchived: { wal: string; at: string; ageSeconds: number } | null;
  lastBackup: { id: string; stopTime: string; ageSeconds: number } | null;
  backups: number;
  /** Bytes the repository holds: WAL objects and backups' stored files (0 when it cannot be read). */
  storedBytes: { wal: number; backups: number };
  /** The newest backup's size (pg_basebackup's count), stored size and duration. */
  lastBackupSize: { bytes: number; storedBytes: number; durationSeconds: number } | null;
  restorableWindow: RestorableWindow | null;
  /** The segment replay cannot get past, when WAL is archived after it. */
  walGap: { after: string; missingFrom: string; missingTo: string; archivedThrough: string } | null;
  lastVerify: (Pick<VerifyRun, 'finishedAt' | 'result' | 'scope' | 'problems' | 'examples'> & { ageSeconds: number }) | null;
  /** The last `pitr restore-test` (repository/restore-test-results.ts), null when none has run. */
  lastRestoreTest: (RestoreTestRun & { ageSeconds: number }) | null;
  /** The newest job of each kind in the history (running, passed, failed or skipped). */
  jobs: JobView[];
  /** What the agent last reported (repository/agent-state.ts), null when no agent ever ran here. */
  agent:
    | (Pick<AgentState, 'host' | 'pid' | 'startedAt' | 'heartbeatAt' | 'stoppedAt' | 'schedules' | 'channels'> & { reporting: boolean })
    | null;
  database: DatabaseFacts;
  retentionRules: string[];
  thresholds: { backupAge: string; archiveAge: string; restoreTestAge: string };
}

/**
 * What a problem is about, for the agent's notifications: one message when a check starts
 * failing and one when it recovers, however its wording (an age, a count) changes meanwhile.
 */
export type HealthCheck =
  'repository' | 'archiving' | 'wal' | 'backup' | 'verify' | 'restore-test' | 'expire' | 'dump' | 'notify' | 'agent';

function problem(report: StatusReport, check: HealthCheck, message: string): void {
  report.problems.push(message);
  report.failing.push({ check, message });
}

export interface StatusInputs {
  storage: Storage;
  /** How the WAL listing and the manifests are read: afresh by default; the agent keeps what it can (kept-reads.ts). */
  reads?: RepositoryReads;
  database: DatabaseFacts;
  alerts: AlertSettings;
  retention: RetentionSettings;
  now?: Date;
}

export async function collectStatus(inputs: StatusInputs): Promise<StatusReport> {
  const { storage, database, alerts, retention } = inputs;
  const reads = inputs.reads ?? freshReads(storage);
  const now = inputs.now ?? new Date();
  const age = (at: Date | string) => Math.max(0, Math.round((now.getTime() - new Date(at).getTime()) / 1000));
  const problems: string[] = [];
  const warnings: string[] = [];
  const report: StatusReport = {
    repository: storage.url,
    healthy: false,
    problems,
    failing: [],
    warnings,
    identity: null,
    repositoryReachable: true,
    timelines: [],
    lastArchived: null,
    lastBackup: null,
    backups: 0,
    storedBytes: { wal: 0, backups: 0 },
    lastBackupSize: null,
    restorableWindow: null,
    walGap: null,
    lastVerify: null,
    lastRestoreTest: null,
    jobs: [],
    agent: null,
    database,
    retentionRules: retentionRules(retention),
    thresholds: {
      backupAge: formatDuration(alerts.backupAgeMs),
      archiveAge: formatDuration(alerts.archiveAgeMs),
      restoreTestAge: formatDuration(alerts.restoreTestAgeMs),
    },
  };

  // The repository.
  try {
    report.identity = await readIdentity(storage);
    const segmentSize = report.identity?.walSegmentSize ?? DEFAULT_SEGMENT_SIZE;
    const [backups, inventory, verify, restoreTest, expireIntent, lastJobs, agent] = await Promise.all([
      reads.backups(),
      reads.walInventory(segmentSize),
      readLastVerifyRun(storage),
      readLastRestoreTest(storage),
      readExpireIntent(storage),
      lastJobOfEachKind(storage, now),
      // Damaged, it says nothing of the repository's health: a warning, not a blank report.
      readAgentState(storage).catch((err: unknown) => {
        if (!(err instanceof IntegrityError)) throw err;
        warnings.push(err.message);
        return null;
      }),
    ]);
    if (agent) judgeAgent(agent, now, report);
    report.jobs = [...lastJobs.values()];
    // Consistent meanwhile (nothing listed lacks its data or WAL), but space is not freed yet.
    if (expireIntent.intent)
      warnings.push(
        describeInterruptedExpire(
          expireIntent.intent.startedAt,
          expireIntent.intent.backups.map((b) => b.id),
        ),
      );
    if (expireIntent.damaged) warnings.push(expireIntent.damaged);
    const histories = await readHistories(storage, inventory.histories);
    report.backups = backups.length;
    report.timelines = inventory.timelines.map((t) => {
      const at = t.last ? inventory.archivedAt.get(t.last) : undefined;
      return {
        timeline: parseTimelineHex(t.timeline),
        lastWal: t.last,
        lastArchivedAt: at?.toISOString() ?? null,
        ageSeconds: at ? age(at) : null,
      };
    });
    let newest: { wal: string; at: Date } | null = null;
    for (const [name, at] of inventory.archivedAt)
      // The inventory's names are all WAL file names: a segment's is its 24 hex digits alone.
      if (name.length === 24 && (!newest || at > newest.at)) newest = { wal: name, at };
    report.lastArchived = newest && { wal: newest.wal, at: newest.at.toISOString(), ageSeconds: age(newest.at) };
    const last = backups.at(-1);
    report.lastBackup = last ? { id: last.id, stopTime: last.stopTime, ageSeconds: age(last.stopTime) } : null;
    report.lastBackupSize = last
      ? { bytes: last.files[0].size, storedBytes: last.files[0].storedSize, durationSeconds: last.durationMs / 1000 }
      : null;
    report.storedBytes = {
      wal: inventory.storedBytes,
      backups: backups.reduce((sum, b) => sum + b.files.reduce((s, f) => s + f.storedSize, 0), 0),
    };

    // Backups whose own WAL (start to stop) is not all archived cannot be restored.
    const usable: BackupManifest[] = [];
    const unusable: string[] = [];
    for (const b of backups) {
      const needed = requiredSegments(rootHistory(b.timeline), parseLsn(b.startLsn)!, parseLsn(b.stopLsn)!, segmentSize);
      const missing = needed.find((n) => !inventory.segments.has(n));
      if (missing) unusable.push(`${b.id} (${missing} ${describeMissing(missing, inventory)})`);
      else usable.push(b);
    }
    if (unusable.length > 0)
      problem(
        report,
        'backup',
        `backup(s) that cannot be restored, their own WAL not all archived: ${unusable.join(', ')}: ` +
          'push the missing segments again from pg_wal if they are still there ("pitr wal-push pg_wal/NAME"), else take a new backup ("pitr backup")',
      );
    report.restorableWindow = await restorableWindow(storage, usable, inventory, histories, segmentSize);
    if (report.restorableWindow) {
      report.walGap = windowGap(report.restorableWindow.lastWal, inventory, histories, segmentSize);
      const g = report.walGap;
      if (g)
        problem(
          report,
          'wal',
          `gap in the archived WAL: ${g.missingFrom === g.missingTo ? g.missingFrom : `${g.missingFrom} .. ${g.missingTo}`} ` +
            `${describeMissing(g.missingFrom, inventory)}, so a restore stops at ${g.after} (${report.restorableWindow.to}) although WAL through ` +
            `${g.archivedThrough} is archived: push the missing segments again from pg_wal if they are still there ("pitr wal-push pg_wal/NAME"), ` +
            `and take a new backup ("pitr backup") so that the time after the gap can be restored`,
        );
    }

    if (!report.identity)
      problem(report, 'repository', 'repository is not initialised: run "pitr init" or let archive_command push the first WAL');
    if (!report.lastArchived)
      problem(report, 'archiving', 'no WAL archived yet: check archive_mode and archive_command ("pitr check"), and the PostgreSQL log');
    if (!last) problem(report, 'backup', 'no backup at all: nothing can be restored; take one with "pitr backup" (and schedule it)');
    else if (report.lastBackup!.ageSeconds * 1000 > alerts.backupAgeMs)
      problem(
        report,
        'backup',
        `last backup ${last.id} ended ${last.stopTime}, ${formatDuration(report.lastBackup!.ageSeconds * 1000)} ago, ` +
          `older than PITR_ALERT_BACKUP_AGE (${report.thresholds.backupAge}): take one with "pitr backup" and check the backup schedule`,
      );

    if (verify) {
      report.lastVerify = {
        finishedAt: verify.finishedAt,
        result: verify.result,
        scope: verify.scope,
        problems: verify.problems,
        examples: verify.examples,
        ageSeconds: age(verify.finishedAt),
      };
      if (verify.result === 'failed')
        problem(
          report,
          'verify',
          `last verify (${verify.scope}, ${verify.finishedAt}) failed with ${verify.problems} problem(s)` +
            `${verify.examples.length ? `: ${verify.examples.join('; ')}` : ''}: run "pitr verify" to see them all, repair, and verify again`,
        );
    }
    // Judged only once a restore test has run (the contract's PITR_ALERT_RESTORE_TEST_AGE).
    if (restoreTest) {
      report.lastRestoreTest = { ...restoreTest, ageSeconds: age(restoreTest.finishedAt) };
      if (restoreTest.result === 'failed')
        problem(report, 'restore-test', `last restore test (${restoreTest.finishedAt}) failed: run "pitr restore-test" and read why`);
      else if (age(restoreTest.finishedAt) * 1000 > alerts.restoreTestAgeMs)
        problem(
          report,
          'restore-test',
          `last restore test ran ${restoreTest.finishedAt}, longer ago than PITR_ALERT_RESTORE_TEST_AGE (${report.thresholds.restoreTestAge}): run "pitr restore-test"`,
        );
    }
    for (const p of jobProblems(lastJobs, {
      lastBackupStop: last?.stopTime,
      verifyFinishedAt: verify?.finishedAt,
      restoreTestFinishedAt: restoreTest?.finishedAt,
    }))
      problem(report, p.kind, p.message);
  } catch (err) {
    if (!(err instanceof PitrError)) throw err;
    report.repositoryReachable = false;
    problem(report, 'repository', `repository ${storage.url} cannot be read: ${err.message}`);
  }

  // The database's archiver.
  if (database.reachable) {
    const id = report.identity;
    if (id && id.systemIdentifier !== database.systemIdentifier) {
      warnings.push(
        `the database reached is cluster ${database.systemIdentifier}, not the repository's ${id.systemIdentifier}: its archiver is not judged; ` +
          'point --db-url, PGHOST/PGPORT or PGDATA at the cluster that archives here',
      );
    } else {
      judgeArchiver(database, alerts, report);
    }
  } else {
    warnings.push(
      `database not reachable (${database.error}): archiver failures and the .ready backlog are not shown, the last archived WAL's age is judged instead; ` +
        'set --db-url, PGHOST/PGPORT/PGUSER or PGDATA to see them',
    );
  }
  if (!database.reachable || (report.identity && report.identity.systemIdentifier !== database.systemIdentifier)) {
    const la = report.lastArchived;
    if (la && la.ageSeconds * 1000 > alerts.archiveAgeMs)
      problem(
        report,
        'archiving',
        `last WAL archived ${la.wal} at ${la.at}, ${formatDuration(la.ageSeconds * 1000)} ago, longer than PITR_ALERT_ARCHIVE_AGE (${report.thresholds.archiveAge}): ` +
          'check that archiving works ("pitr check") and the PostgreSQL log',
      );
  }

  if (report.retentionRules.length === 0)
    warnings.push(
      'no retention rule is set (PITR_RETENTION_FULL, _WINDOW, _DAILY, _WEEKLY, _MONTHLY): nothing is ever expired and the repository grows without bound',
    );

  report.healthy = problems.length === 0;
  return report;
}

/** An agent silent for this many watch intervals (at least AGENT_SILENT_MIN_MS) is taken for dead. */
const AGENT_SILENT_INTERVALS = 3;
const AGENT_SILENT_MIN_MS = 5 * 60_000;

function judgeAgent(agent: AgentState, now: Date, report: StatusReport): void {
  const silentMs = now.getTime() - Date.parse(agent.heartbeatAt);
  const reporting =
    agent.stoppedAt === null && silentMs <= Math.max(AGENT_SILENT_MIN_MS, AGENT_SILENT_INTERVALS * agent.watchIntervalSeconds * 1000);
  const { host, pid, startedAt, heartbeatAt, stoppedAt, schedules, channels } = agent;
  report.agent = { host, pid, startedAt, heartbeatAt, stoppedAt, schedules, channels, reporting };
  if (stoppedAt === null && !reporting)
    problem(
      report,
      'agent',
      `the agent (pid ${pid} on ${host}) last reported at ${heartbeatAt} and did not stop cleanly: nothing runs the schedules or notifies; ` +
        `see "systemctl status pitr-agent" and its log on ${host}, and start it again`,
    );
  if (!reporting) return; // a stopped agent's channels are nobody's concern
  for (const c of channels.filter((ch) => !ch.healthy))
    problem(
      report,
      'notify',
      `notification channel ${c.name} (${c.target}) has failed ${c.failedAttempts} time(s) since ${c.failingSince}: ${c.lastError ?? 'no error recorded'}: ` +
        'fix its settings or the receiver; "pitr notify --test" tries every channel',
    );
}

function judgeArchiver(db: Extract<DatabaseFacts, { reachable: true }>, alerts: AlertSettings, report: StatusReport): void {
  const a = db.archiver;
  if (db.archiveMode === 'off')
    problem(
      report,
      'archiving',
      'archive_mode is off: no WAL is archived; set archive_mode = on and restart PostgreSQL ("pitr check" tests the set-up)',
    );
  const failingSince = a.lastFailedTime && (!a.lastArchivedTime || a.lastFailedTime > a.lastArchivedTime);
  if (failingSince)
    problem(
      report,
      'archiving',
      `archiving is failing: ${a.failedCount} failure(s), the last at ${a.lastFailedTime} (${a.lastFailedWal}), ` +
        `${a.lastArchivedTime ? `after the last success at ${a.lastArchivedTime} (${a.lastArchivedWal})` : 'and nothing archived since the statistics began'}: ` +
        'read the PostgreSQL log for archive_command\'s error and fix it (the store, its credentials, space); "pitr check" tests the set-up',
    );
  const b = db.backlog;
  if (b && b.oldestAgeSeconds !== null && b.oldestAgeSeconds * 1000 > alerts.archiveAgeMs)
    problem(
      report,
      'archiving',
      `${b.ready} WAL file(s) waiting to be archived (.ready), the oldest ${b.oldest} for ${formatDuration(b.oldestAgeSeconds * 1000)}, ` +
        `longer than PITR_ALERT_ARCHIVE_AGE (${report.thresholds.archiveAge}): archiving is failing or falling behind; ` +
        "read the PostgreSQL log for archive_command's error; pg_wal fills up until it is fixed",
    );
  if (db.backlogError) report.warnings.push(`the .ready backlog cannot be read: ${db.backlogError}`);
}

/**
 * The first segment replay from the window cannot find, when archived WAL lies beyond it on
 * the history replay follows (the window's timeline or one branching from it later): a pushed
 * segment missing from the store, e.g. after a volume was detached.
 */
export function windowGap(
  lastWal: string,
  inventory: WalView,
  histories: Map<number, TimelineSpan[]>,
  segmentSize: number,
): StatusReport['walGap'] {
  const tli = parseInt(lastWal.slice(0, 8), 16);
  const lastSegno = segmentNumberOfName(lastWal, segmentSize);
  const lastLsn = (lastSegno + 1n) * BigInt(segmentSize) - 1n;
  let found: StatusReport['walGap'] = null;
  for (const t of inventory.timelines) {
    if (!t.last || t.timeline < tli) continue;
    const history = histories.get(t.timeline) ?? rootHistory(t.timeline);
    if (t.timeline !== tli && !isOnHistory(history, tli, lastLsn)) continue;
    if (segmentNumberOfName(t.last, segmentSize) <= lastSegno) continue;
    const missingFrom = segmentOnHistory(history, lastSegno + 1n, segmentSize);
    let n = lastSegno + 1n;
    while (!inventory.segments.has(segmentOnHistory(history, n + 1n, segmentSize)) && n < segmentNumberOfName(t.last, segmentSize)) n++;
    const gap = { after: lastWal, missingFrom, missingTo: segmentOnHistory(history, n, segmentSize), archivedThrough: t.last };
    if (!found || gap.archivedThrough > found.archivedThrough) found = gap;
  }
  return found;
}

function describeMissing(name: string, inventory: WalView): string {
  const tli = parseInt(name.slice(0, 8), 16);
  const t = inventory.timelines.find((x) => x.timeline === tli);
  if (t?.incomplete.includes(name)) return 'cut off by an interrupted upload';
  if (t?.damaged.includes(name)) return 'damaged';
  return 'missing from the repository';
}

function parseTimelineHex(timeline: number): string {
  return timeline.toString(16).toUpperCase().padStart(8, '0');
}

function retentionRules(r: RetentionSettings): string[] {
  const rules: string[] = [];
  if (r.full !== undefined) rules.push(`PITR_RETENTION_FULL=${r.full}`);
  if (r.windowMs !== undefined) rules.push(`PITR_RETENTION_WINDOW=${formatDuration(r.windowMs)}`);
  if (r.daily !== undefined) rules.push(`PITR_RETENTION_DAILY=${r.daily}`);
  if (r.weekly !== undefined) rules.push(`PITR_RETENTION_WEEKLY=${r.weekly}`);
  if (r.monthly !== undefined) rules.push(`PITR_RETENTION_MONTHLY=${r.monthly}`);
  return rules;
}

export function formatStatus(report: StatusReport): string {
  const lines = [`repository    ${report.repository}${report.repositoryReachable ? '' : ' (cannot be read)'}`];
  const id = report.identity;
  const known = report.repositoryReachable;
  lines.push(
    !known
      ? 'cluster       unknown (the repository cannot be read)'
      : id
        ? `cluster       ${id.systemIdentifier} (PostgreSQL ${id.pgVersion}, ${id.walSegmentSize / 1048576} MiB WAL segments), bound ${id.createdAt}`
        : 'cluster       (not bound)',
  );
  if (known && id)
    lines.push(
      id.encryption
        ? `encryption    age, to ${id.encryption.recipients.join(', ')} (since ${id.encryption.since})`
        : 'encryption    none: objects are stored in the clear',
    );
  for (const t of report.timelines) {
    lines.push(
      `timeline ${parseInt(t.timeline, 16)}    ` +
        (t.lastWal ? `last WAL ${t.lastWal} archived ${t.lastArchivedAt} (${ago(t.ageSeconds!)})` : 'no segments (history only)'),
    );
  }
  const db = report.database;
  if (db.reachable) {
    const a = db.archiver;
    lines.push(
      `archiver      archive_mode ${db.archiveMode}; ${a.archivedCount} archived, last ${a.lastArchivedWal ?? 'none'}` +
        `${a.lastArchivedTime ? ` at ${a.lastArchivedTime}` : ''}; ${a.failedCount} failed` +
        `${a.lastFailedTime ? `, last ${a.lastFailedWal} at ${a.lastFailedTime}` : ''}`,
    );
    const b = db.backlog;
    lines.push(
      b
        ? `backlog       ${b.ready} .ready file(s)${b.oldest ? `, oldest ${b.oldest} (${ago(b.oldestAgeSeconds!)})` : ''}`
        : 'backlog       unknown',
    );
  } else lines.push(`database      not reachable: ${db.error}`);
  if (known) lines.push(...repositoryFacts(report));
  lines.push(`retention     ${report.retentionRules.length ? report.retentionRules.join(', ') : 'no rule set'}`);
  lines.push(`status        ${report.healthy ? 'healthy' : 'UNHEALTHY'}`);
  for (const p of report.problems) lines.push(`  problem: ${p}`);
  for (const p of report.warnings) lines.push(`  warning: ${p}`);
  return `${lines.join('\n')}\n`;
}

function repositoryFacts(report: StatusReport): string[] {
  const lines: string[] = [];
  const b = report.lastBackup;
  lines.push(b ? `last backup   ${b.id}, ended ${b.stopTime} (${ago(b.ageSeconds)}), ${report.backups} in all` : 'last backup   none');
  const w = report.restorableWindow;
  lines.push(`restorable    ${describeWindow(w)}`);
  const v = report.lastVerify;
  lines.push(`last verify   ${v ? `${v.result} ${v.finishedAt} (${ago(v.ageSeconds)}), ${v.scope}, ${v.problems} problem(s)` : 'never'}`);
  const r = report.lastRestoreTest;
  lines.push(
    `restore test  ${
      r
        ? `${r.result} ${r.finishedAt} (${ago(r.ageSeconds)})${r.rtoSeconds !== null ? `, RTO ${r.rtoSeconds.toFixed(1)} s` : ''}${r.error ? `: ${r.error}` : ''}`
        : 'never'
    }`,
  );
  const a = report.agent;
  if (a)
    lines.push(
      `agent         ${a.stoppedAt ? `stopped ${a.stoppedAt}` : a.reporting ? 'running' : 'SILENT'} on ${a.host} (pid ${a.pid}), last report ${a.heartbeatAt}` +
        (a.reporting ? `; next: ${a.schedules.map((x) => `${x.job} ${x.next ?? 'never'}`).join(', ')}` : ''),
    );
  const running = report.jobs.filter((j) => j.status === 'running');
  if (running.length > 0)
    lines.push(`running       ${running.map((j) => `${j.kind} ${j.id} on ${j.host} since ${j.startedAt}`).join('; ')}`);
  return lines;
}

function ago(seconds: number): string {
  return `${formatDuration(seconds * 1000)} ago`;
}
