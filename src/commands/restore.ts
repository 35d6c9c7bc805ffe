// `pitr restore`: a backup plus the archived WAL into a new data directory, stopped at a target.
import { defineCommand } from '../cli/command.js';
import { launcherPath } from '../cli/launcher.js';
import { progressReporter } from '../cli/progress.js';
import { ConfigError } from '../errors.js';
import { describeBranchChoice } from '../restore/branch-choice.js';
import { describeArchiveMode, type RecoveryAction } from '../restore/recovery-conf.js';
import type { RestoreReport } from '../restore/run.js';
import { describeTarget, parseRecoveryTarget, parseTimelineChoice } from '../restore/target.js';
import { openStorage } from '../storage/open.js';

const ACTIONS = ['promote', 'pause', 'shutdown'] as const satisfies readonly RecoveryAction[];

/** A TCP port, or a usage error naming what was given (yargs' number type would turn "abc" into NaN). */
function tcpPort(input: string): number {
  const port = Number(input);
  if (!/^[0-9]+$/.test(input) || port < 1 || port > 65535)
    throw new ConfigError(`--port "${input}" is not a TCP port: give a number from 1 to 65535`);
  return port;
}

export const command = defineCommand({
  name: 'restore',
  describe: 'restore a backup and recover to a point in time (--to, --latest, --lsn, --xid, --name, --immediate)',
  options: {
    'target-dir': { type: 'string', demandOption: true, describe: 'new or empty directory for the restored data directory' },
    to: { type: 'string', describe: 'recover to this time (ISO 8601 or PostgreSQL text, with a zone)' },
    latest: { type: 'boolean', describe: 'recover all archived WAL' },
    lsn: { type: 'string', describe: 'recover to this WAL position' },
    xid: { type: 'string', describe: 'recover to the commit of this transaction' },
    name: { type: 'string', describe: 'recover to this restore point (pg_create_restore_point)' },
    immediate: { type: 'boolean', describe: 'stop as soon as the backup is consistent' },
    backup: { type: 'string', describe: 'restore this backup id instead of choosing one' },
    timeline: { type: 'string', describe: 'latest (default), current, or a timeline number' },
    action: { choices: ACTIONS, describe: 'at the target (default promote)' },
    exclusive: { type: 'boolean', describe: 'stop just before the target instead of just after' },
    start: { type: 'boolean', describe: 'start the server and wait until recovery ends' },
    force: { type: 'boolean', describe: 'replace the contents of a non-empty target directory (never one with a running server)' },
    port: { type: 'string', coerce: tcpPort, describe: 'port for the restored server (written to postgresql.auto.conf)' },
    'archive-mode': {
      choices: ['preserve', 'off'] as const,
      describe: 'off (default): the restored server does not archive; preserve: it archives into this repository as the new primary',
    },
  },
  handler: async ({ config, log }, args) => {
    const target = parseRecoveryTarget({
      to: args.to,
      latest: args.latest === true,
      lsn: args.lsn,
      xid: args.xid,
      name: args.name,
      immediate: args.immediate === true,
    });
    const port = args.port;
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535))
      throw new ConfigError(`--port "${port}" is not a TCP port`);
    // Loaded here, not with the command line: it brings execa, which every other command would load for nothing.
    const { restore } = await import('../restore/run.js');
    const storage = await openStorage(config);
    const progress = progressReporter('restore', log);
    const report = await restore({
      storage,
      config,
      log,
      targetDir: args['target-dir'],
      target,
      timeline: parseTimelineChoice(args.timeline),
      backupId: args.backup,
      action: args.action ?? 'promote',
      inclusive: args.exclusive !== true,
      force: args.force === true,
      start: args.start === true,
      port: args.port,
      // A restored copy archives into the repository it came from only when the operator says it
      // is the new primary: a test copy pushing its new timeline there captures restore --latest.
      archiveMode: args['archive-mode'] ?? 'off',
      // restore_command names the launcher this call came through.
      pitrPath: launcherPath(),
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
  },
});

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
