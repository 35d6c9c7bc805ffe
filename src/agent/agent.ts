// `pitr agent`: the long-running service. It holds the repository's agent lock (one agent per
// repository), runs the schedules (agent/scheduler.ts) through the job runner (one job at a
// time, each in its own process), expires after each backup that passed when a retention rule
// is set, watches health every PITR_WATCH_INTERVAL and after every job (agent/watch.ts) and
// notifies each change, and keeps the resident archiver warm. SIGTERM/SIGINT: stop the job
// (it leaves nothing visible), send what is queued, release the lock, exit 0. SIGHUP: read the
// configuration again.
import { hostname } from 'node:os';
import type { Config, ScheduledJob } from '../config/config.js';
import { checkedTimeZone } from '../config/time-zone.js';
import { ConfigError, StorageUnavailableError } from '../errors.js';
import type { Logger } from '../log.js';
import { configuredChannels } from '../notify/channels.js';
import { createNotifier, type Notifier } from '../notify/sender.js';
import { readAgentState, writeAgentState } from '../repository/agent-state.js';
import { acquireRepositoryLock, type HeldLock, type LockHolder } from '../repository/repository-lock.js';
import { openStorage } from '../storage/open.js';
import type { Storage } from '../storage/storage.js';
import { keepArchiverWarm, type ArchiverWarmth } from './archiver-warmth.js';
import type { NotifiedChecks } from './health-changes.js';
import { JobRunner, type JobEnd } from './job-runner.js';
import { startScheduler, type Scheduler } from './scheduler.js';
import { parseSchedules, SCHEDULE_KEYS, type Schedule } from './schedules.js';
import { watchHealth } from './watch.js';
import { lastKnown } from './last-known.js';
import { agentMetrics } from '../api/metrics.js';
import { startApiServer, type Known } from '../api/server.js';
import { listRepository } from '../repository/listing.js';
import { keptReads } from '../repository/kept-reads.js';
import { readHistory } from '../repository/job-history.js';
import type { StatusReport } from '../status/status.js';

export const AGENT_LOCK_KEY = 'locks/agent.json';

export interface AgentOptions {
  /** Reads the configuration (again on SIGHUP), as the command line and environment give it. */
  loadConfig: () => Config;
  log: Logger;
  /** The launcher and the flags the agent was started with: every job runs as `pitr [flags] <job>`. */
  pitr: string;
  flags: readonly string[];
  /** The environment jobs run in. */
  jobEnv: NodeJS.ProcessEnv;
}

/** Runs until SIGTERM or SIGINT; throws only when it cannot start (config, lock, store). */
export async function runAgent(o: AgentOptions): Promise<void> {
  // Signals first: one that arrives while the agent starts is kept, not fatal. Repeats are
  // ignored: a second SIGTERM during the stop must not cut it short (lock left, no record).
  let signalled: string | null = null;
  let onStop: (why: string) => void = (why) => void (signalled ??= why);
  let reloadAsked = false;
  let onReload: () => void = () => void (reloadAsked = true);
  const stopSignal = (signal: NodeJS.Signals) => onStop(signal);
  const hupSignal = () => onReload();
  process.on('SIGTERM', stopSignal).on('SIGINT', stopSignal).on('SIGHUP', hupSignal);
  try {
    await serve(o, {
      stopped: new Promise<string>((resolve) => {
        if (signalled) resolve(signalled);
        onStop = (why) => {
          signalled ??= why;
          resolve(signalled);
        };
      }),
      onReload: (reload) => {
        onReload = reload;
        if (reloadAsked) reload();
      },
      stop: (why) => onStop(why),
    });
  } finally {
    process.off('SIGTERM', stopSignal).off('SIGINT', stopSignal).off('SIGHUP', hupSignal);
  }
}

interface Control {
  /** Resolves with why the agent stops: the signal, or a lost lock. */
  stopped: Promise<string>;
  onReload: (reload: () => void) => void;
  stop: (why: string) => void;
}

async function serve(o: AgentOptions, control: Control): Promise<void> {
  const { log } = o;
  let config = o.loadConfig();
  let schedules = checkedSchedules(config);
  const storage = await openStorage(config);
  // What the repository holds, kept between watches: only what may have changed is read again.
  const reads = keptReads(storage);
  const lock = await acquireAgentLock(storage, (holder) => {
    log.error(
      `the agent lock ${storage.url}${AGENT_LOCK_KEY} was taken by ${holder ? `pid ${holder.pid} on ${holder.host}` : 'another'} while this agent could not reach the store: this agent stops, so that one runs`,
    );
    control.stop('lost its lock');
  });
  const startedAt = new Date();
  const previous = await readAgentState(storage).catch(() => null);
  const watchedSince = previous?.watchedSince ?? startedAt.toISOString();
  let notified: NotifiedChecks = previous?.notified ?? {};
  // Since when each schedule, as written now, has been watched: a schedule turned on or
  // changed is judged from then on, not from when the agent first watched.
  let scheduleSince = sinceOfSchedules(schedules, previous?.schedules ?? [], startedAt);
  let notifier = newNotifier(config, log, () => watchSoon());
  let scheduler: Scheduler;
  let stopping = false;
  const warmth: ArchiverWarmth = keepArchiverWarm({ config, log });
  const metrics = agentMetrics();
  let lastStatus: Known<StatusReport> | null = null;
  /** The .ready backlog at each watch, for the dashboard's chart: at most one a minute, the last 24 hours. */
  const backlog: { at: string; ready: number | null }[] = [];

  const runner = new JobRunner({
    pitr: o.pitr,
    flags: o.flags,
    env: o.jobEnv,
    storage: () => storage,
    log,
    onEnd: (end) => afterJob(end),
    onSkip: (kind) => metrics.countJob(kind, 'skipped'),
  });
  const afterJob = (end: JobEnd) => {
    reads.forget(); // a backup or an expire added or removed objects anywhere
    metrics.countJob(end.kind, end.exitCode === 0 ? 'passed' : 'failed');
    if (end.kind === 'backup' && end.exitCode === 0 && retentionSet(config)) void runner.request('expire', end.trigger);
    watchSoon();
  };
  const fire = (job: ScheduledJob) => void runner.request(job, 'schedule');
  // The repository's listing for /api/backups: read again after each watch, when asked.
  const listing = lastKnown(() => listRepository(storage, reads));
  const upcoming = () => scheduler.upcoming().map((u) => ({ ...u, since: scheduleSince.get(u.job)?.toISOString() ?? null }));
  /** What agent/state.json says of this agent now (at each watch, and when it stops). */
  const stateNow = (stopping: boolean) => {
    const now = new Date().toISOString();
    return {
      host: hostname(),
      pid: process.pid,
      startedAt: startedAt.toISOString(),
      watchedSince,
      heartbeatAt: now,
      stoppedAt: stopping ? now : null,
      watchIntervalSeconds: config.agent.watchIntervalMs / 1000,
      schedules: upcoming(),
      channels: notifier.states(),
      notified,
    };
  };

  // The health watch: never two at once; one asked for during a watch runs right after it.
  let watching: Promise<void> | null = null;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  const watch = async () => {
    clearTimeout(timer);
    const t0 = performance.now();
    const cpu0 = process.cpuUsage();
    try {
      const seen = await withDeadline(
        watchHealth({
          config,
          storage,
          reads,
          schedules,
          notified,
          watchedSince: (s) => laterOf(new Date(watchedSince), scheduleSince.get(s.job)),
          channels: notifier.states(),
          now: new Date(),
          log,
        }),
        watchDeadlineMs(config),
      );
      notified = seen.notified;
      lastStatus = { value: seen.report, at: new Date() };
      metrics.observe(seen.report, lastStatus.at);
      recordBacklog(backlog, seen.report, lastStatus.at);
      listing.stale();
      const db = seen.report.database;
      warmth.update(db.reachable ? db.archiveCommand : null);
      for (const n of seen.notifications) notifier.notify(n);
      await writeAgentState(storage, stateNow(false)).catch((err: unknown) =>
        log.warn(`cannot write ${storage.url}agent/state.json: ${(err as Error).message}`),
      );
      const cpu = process.cpuUsage(cpu0);
      // What a watch costs (tools/bench/agent.ts reads it), at debug: quiet in the service's log.
      log.debug(
        {
          ms: Math.round(performance.now() - t0),
          cpuMs: Math.round((cpu.user + cpu.system) / 1000),
          ...memoryMiB(),
        },
        'health watch',
      );
    } catch (err) {
      // A bug, or a store that never answers: it must not end the service; the next watch may do better.
      log.error({ err }, `health watch failed: ${(err as Error).message}`);
    }
    if (!stopping) timer = setTimeout(watchSoon, config.agent.watchIntervalMs);
  };
  function watchSoon(): void {
    if (stopping) return;
    if (watching) {
      again = true;
      return;
    }
    watching = watch().finally(() => {
      watching = null;
      if (again) {
        again = false;
        watchSoon();
      }
    });
  }

  const reload = () => {
    try {
      const next = o.loadConfig();
      if (next.repo !== config.repo)
        throw new ConfigError(`the repository changed (${config.repo} to ${next.repo}): restart the agent to use another`);
      const nextSchedules = checkedSchedules(next);
      scheduler.stop();
      // The same channels keep their queues and their health; others start afresh, the old
      // ones given a few seconds to send what they hold.
      if (JSON.stringify(next.agent.httpListen) !== JSON.stringify(config.agent.httpListen))
        log.warn(
          'PITR_HTTP_LISTEN changed: the agent goes on serving where it did; restart it to move (the token, if changed, applies now)',
        );
      if (JSON.stringify(next.notify) !== JSON.stringify(config.notify)) {
        const old = notifier;
        notifier = newNotifier(next, log, () => watchSoon());
        void old.flush(5000).finally(() => old.stop());
      }
      scheduleSince = sinceOfSchedules(nextSchedules, upcoming(), new Date());
      config = next;
      schedules = nextSchedules;
      scheduler = startScheduler(schedules, fire);
      log.info({ schedules: upcoming() }, 'configuration reloaded (SIGHUP)');
      watchSoon();
    } catch (err) {
      log.error(`configuration not reloaded, the agent goes on with the previous one: ${(err as Error).message}`);
    }
  };

  const onStray = (err: unknown) => log.error({ err }, `unexpected error, the agent goes on: ${(err as Error)?.message ?? String(err)}`);
  process.on('unhandledRejection', onStray);
  scheduler = startScheduler(schedules, fire);
  // HTTP last: what it serves exists by now. A port in use is an error at start, not a silent
  // agent without its API.
  const http = config.agent.httpListen
    ? await startApiServer({
        listen: config.agent.httpListen,
        token: () => config.agent.httpToken,
        log,
        sources: {
          status: () => lastStatus,
          backups: () => listing.get(),
          history: async (limit) => (await withDeadline(readHistory(storage, limit), 10_000)).jobs,
          start: (kind) => runner.request(kind, 'api'),
          metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.registry.metrics() }),
          backlog: () => backlog,
          download: async (id) => {
            const file = (await listing.get()).value.backups.find((b) => b.id === id)?.files[0];
            if (!file) return null;
            const stream = await storage.getStream(file.key);
            return stream && { name: file.key.slice(file.key.lastIndexOf('/') + 1), size: file.storedSize, stream };
          },
        },
      }).catch(async (err: unknown) => {
        await lock.release().catch(() => undefined);
        throw err;
      })
    : null;
  control.onReload(reload);
  log.info({ repository: storage.url, schedules: upcoming() }, `agent started (pid ${process.pid})`);
  watchSoon();

  const why = await control.stopped;
  stopping = true;
  control.onReload(() => undefined);
  log.info({ why }, `agent stopping (${why})${runner.running ? `: stopping ${runner.running.kind} ${runner.running.id}` : ''}`);
  clearTimeout(timer);
  scheduler.stop();
  warmth.stop();
  await http?.close();
  await runner.stop();
  // A watch stuck on a store that does not answer is not waited for long.
  await withDeadline(watching ?? Promise.resolve(), 5000).catch(() => undefined);
  await notifier.flush(3000);
  notifier.stop();
  await writeAgentState(storage, stateNow(true)).catch(() => undefined);
  await lock.release().catch(() => undefined);
  process.off('unhandledRejection', onStray);
  log.info('agent stopped');
}

/** For each schedule, since when it has been watched as written: kept when unchanged, else from `now`. */
function sinceOfSchedules(
  schedules: readonly Schedule[],
  before: readonly { job: string; expression: string; since?: string | null }[],
  now: Date,
): Map<ScheduledJob, Date> {
  return new Map(
    schedules.map((s) => {
      const was = before.find((b) => b.job === s.job && b.expression === s.expression);
      return [s.job, was?.since ? new Date(was.since) : now];
    }),
  );
}

function laterOf(a: Date, b: Date | undefined): Date {
  return b && b > a ? b : a;
}

/** A watch that takes longer than this is abandoned (a store or server that never answers). */
function watchDeadlineMs(config: Config): number {
  return Math.min(10 * 60_000, Math.max(60_000, 2 * config.agent.watchIntervalMs));
}

function withDeadline<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new StorageUnavailableError(
            `no result within ${ms / 1000} s: the repository or the database does not answer; check them (pitr status)`,
          ),
        ),
      ms,
    );
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}

function checkedSchedules(config: Config): Schedule[] {
  const schedules = parseSchedules(config.agent, checkedTimeZone(config.retention.timeZone));
  if (schedules.some((s) => s.job === 'dump'))
    throw new ConfigError(`${SCHEDULE_KEYS.dump} is set, but pitr dump is not built yet: set it to off`);
  return schedules;
}

function retentionSet(config: Config): boolean {
  const r = config.retention;
  return [r.full, r.windowMs, r.daily, r.weekly, r.monthly].some((x) => x !== undefined);
}

function newNotifier(config: Config, log: Logger, onChannelChange: () => void): Notifier {
  return createNotifier({ channels: configuredChannels(config.notify), log, retryMs: config.notify.retryMs, onChannelChange });
}

function acquireAgentLock(storage: Storage, onLost: (holder: LockHolder | null) => void): Promise<HeldLock> {
  return acquireRepositoryLock(storage, {
    key: AGENT_LOCK_KEY,
    onLost,
    id: `agent-${hostname()}-${process.pid}`,
    busy: (holder) =>
      `${holder ? `an agent (pid ${holder.pid} on ${holder.host}, started ${holder.startedAt})` : 'another agent'} already runs for ${storage.url}: ` +
      `one agent per repository; stop that one first (systemctl stop pitr-agent on its host), or remove ${AGENT_LOCK_KEY} if that process is gone`,
  });
}

function recordBacklog(samples: { at: string; ready: number | null }[], report: StatusReport, at: Date): void {
  const db = report.database;
  const ready = db.reachable ? (db.backlog?.ready ?? null) : null;
  const last = samples.at(-1);
  if (last && at.getTime() - Date.parse(last.at) < 60_000) {
    if (ready !== null && (last.ready === null || ready > last.ready)) last.ready = ready; // the minute's highest
    return;
  }
  samples.push({ at: at.toISOString(), ready });
  while (samples.length > 24 * 60) samples.shift();
}

/** The process's memory in MiB: resident, and the JavaScript heap's part of it (used and held). */
function memoryMiB(): { rssMiB: number; heapUsedMiB: number; heapTotalMiB: number; externalMiB: number } {
  const m = process.memoryUsage();
  const mib = (n: number) => Math.round(n / 1048576);
  return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external) };
}
