// `pitr restore-test`: restores a backup into a throwaway server, checks it, measures the RTO,
// and removes it (src/restore-test/run.ts). Exit 0 passed, 13 failed.
import { randomInt } from 'node:crypto';
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { launcherPath } from '../cli/launcher.js';
import { ExitCode } from '../errors.js';
import type { RestoreTestReport } from '../restore-test/run.js';
import { parseRecoveryTarget } from '../restore/target.js';
import { runRecordedJob } from '../jobs/recorded-job.js';
import { openStorage } from '../storage/open.js';

const options = {
  latest: { type: 'boolean', describe: 'recover all archived WAL (the default)' },
  to: { type: 'string', describe: 'recover to this time instead (ISO 8601 or PostgreSQL text, with a zone)' },
  sql: {
    type: 'string',
    array: true,
    describe: 'a SQL file of checks (repeatable; also PITR_RESTORE_TEST_SQL): each statement must answer true',
  },
} as const;

async function restoreTestCommand(
  { config, log }: CommandContext,
  args: { latest?: boolean; to?: string; sql?: string[] },
): Promise<number> {
  const target = parseRecoveryTarget({ to: args.to, latest: args.latest === true || args.to === undefined });
  // Loaded here: it brings the restore machinery, execa and pg.
  const { runRestoreTest } = await import('../restore-test/run.js');
  const storage = await openStorage(config);
  const report = await runRecordedJob({
    storage,
    log,
    kind: 'restore-test',
    run: () =>
      runRestoreTest({
        storage,
        config,
        log,
        target,
        sqlFiles: [...config.restoreTest.sql, ...(args.sql ?? [])],
        pitrPath: launcherPath(),
        // Only a name for its socket file, in the run's own directory: the server listens on no TCP port.
        port: randomInt(40000, 60000),
      }),
    outcome: (r) => ({
      status: r.result,
      bytes: r.bytes,
      error:
        r.result === 'passed'
          ? null
          : (r.error ??
            r.checks
              .filter((c) => !c.passed)
              .map((c) => `${c.name}: ${c.detail}`)
              .join('; ')),
    }),
  });
  log.info({ result: report.result, rtoSeconds: report.rtoSeconds, backup: report.backup }, 'restore test done');
  process.stdout.write(config.json ? `${JSON.stringify(report)}\n` : summary(report));
  return report.result === 'passed' ? ExitCode.ok : ExitCode.restoreTestFailed;
}

function summary(r: RestoreTestReport): string {
  const s = (x: number | null) => (x === null ? 'unknown' : `${x.toFixed(1)} s`);
  const lines = [
    `restore test ${r.result.toUpperCase()}: backup ${r.backup ?? 'none'} (${(r.bytes / 1048576).toFixed(0)} MiB)`,
    `RTO ${s(r.rtoSeconds)} (start to a server answering); recovered to ${r.recoveredTo ?? 'unknown'}, RPO ${s(r.rpoSeconds)} behind the last transaction archived`,
    ...r.checks.map((c) => `  ${c.passed ? 'passed' : 'FAILED'}  ${c.name}: ${c.detail}`),
  ];
  if (r.error) lines.push(`  FAILED  ${r.error}`);
  return `${lines.join('\n')}\n`;
}

export const command = defineCommand({
  name: 'restore-test',
  describe: 'restore a backup into a throwaway server, check it, report the RTO, remove it (exit 13 on failure)',
  options,
  handler: restoreTestCommand,
});
