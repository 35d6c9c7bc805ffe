// `pitr restore`: a backup plus the archived WAL into a new data directory, stopped at a target.
import { dirname, join, resolve } from 'node:path';
import type { CommandContext } from '../cli/context.js';
import { progressReporter } from '../cli/progress.js';
import type { Flags } from '../config/config.js';
import { ConfigError } from '../errors.js';
import { describeArchiveMode, type RecoveryAction } from '../restore/recovery-conf.js';
import { describeBranchChoice } from '../restore/branch-choice.js';
import { restore, type RestoreReport } from '../restore/run.js';
import { describeTarget, parseRecoveryTarget, parseTimelineChoice } from '../restore/target.js';
import { openStorage } from '../storage/open.js';

export async function restoreCommand({ config, log }: CommandContext, argv: Flags): Promise<void> {
  const str = (k: string) => (typeof argv[k] === 'string' ? (argv[k] as string) : undefined);
  const target = parseRecoveryTarget({
    to: str('to'),
    latest: argv.latest === true,
    lsn: str('lsn'),
    xid: str('xid'),
    name: str('name'),
    immediate: argv.immediate === true,
  });
  const port = argv.port === undefined ? undefined : Number(argv.port);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
    throw new ConfigError(`--port "${argv.port}" is not a TCP port`);
  const storage = await openStorage(config);
  const progress = progressReporter('restore', log);
  const report = await restore({
    storage,
    config,
    log,
    targetDir: String(argv['target-dir']),
    target,
    timeline: parseTimelineChoice(str('timeline')),
    backupId: str('backup'),
    action: (str('action') ?? 'promote') as RecoveryAction,
    inclusive: argv.exclusive !== true,
    force: argv.force === true,
    start: argv.start === true,
    port,
    // A restored copy archives into the repository it came from only when the operator says it
    // is the new primary: a test copy pushing its new timeline there captures restore --latest.
    archiveMode: str('archive-mode') === 'preserve' ? 'preserve' : 'off',
    // restore_command names the launcher this call came through (bin/pitr says where it is).
    pitrPath: resolve(process.env.PITR_LAUNCHER ?? join(dirname(process.argv[1]!), '..', 'bin', 'pitr')),
    onProgress: (bytes, total) => progress.update(bytes, total),
    // Said before the backup streams in, so a wrong branch can be stopped before it is restored.
    onPlanned: (_plan, branch) => {
      if (!config.json) process.stdout.write(`${describeBranchChoice(branch).join('\n')}\n`);
    },
  });
  progress.done();
  log.info(
    { backup: report.plan.backup.id, dir: report.dir, bytes: report.bytes, restoreMs: report.restoreMs, recovery: report.recovery },
    'restore complete',
  );
  process.stdout.write(
    config.json
      ? `${JSON.stringify(report, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))}\n`
      : summary(report, describeTarget(target)),
  );
}

function summary(r: RestoreReport, target: string): string {
  const mib = (r.bytes / 1048576).toFixed(1);
  const lines = [
    `restored backup ${r.plan.backup.id} (${mib} MiB) into ${r.dir} in ${(r.restoreMs / 1000).toFixed(1)} s`,
    `recovery: to ${target} on timeline ${r.plan.timeline}, replaying WAL ${r.plan.firstSegment} .. ${r.plan.lastSegment} (${r.plan.segmentCount} segment(s) archived)`,
    describeArchiveMode(r.archiveMode),
  ];
  const rec = r.recovery;
  if (!rec) {
    lines.push(`start it: ${r.startCommand}`);
  } else {
    const how =
      rec.state === 'promoted'
        ? `promoted${rec.newTimeline ? ` to timeline ${rec.newTimeline}` : ''}, accepting writes`
        : rec.state === 'paused'
          ? 'paused at the target, read-only (SELECT pg_wal_replay_resume() to promote)'
          : 'shut down at the target';
    lines.push(
      `server ${how}: recovery took ${(rec.elapsedMs / 1000).toFixed(1)} s, ${((r.restoreMs + rec.elapsedMs) / 1000).toFixed(1)} s in all`,
    );
    if (rec.stopLine) lines.push(`stopped: ${rec.stopLine}`);
    lines.push(`last replayed transaction: ${rec.lastTransaction ?? 'unknown (see the server log)'}; log ${rec.logFile}`);
  }
  return `${lines.join('\n')}\n`;
}
