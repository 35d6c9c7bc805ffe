// `pitr verify`: reads every stored object against its recorded checksum and size, and checks
// the WAL chain of every backup and of the restorable window (src/verify/run.ts).
import { describeInterruptedExpire } from '../repository/expire-intent.js';
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { progressReporter } from '../cli/progress.js';
import { ExitCode } from '../errors.js';
import { runRecordedJob } from '../jobs/recorded-job.js';
import { openStorage } from '../storage/open.js';
import { verifyRepository, type VerifyReport } from '../verify/run.js';

const options = {
  backup: { type: 'string', describe: 'verify only this backup and the WAL it needs (start to stop)' },
} as const;

async function verifyCommand({ config, log }: CommandContext, args: { backup?: string }): Promise<number> {
  const storage = await openStorage(config);
  const progress = progressReporter('verify', log);
  const started = performance.now();
  const report = await runRecordedJob({
    storage,
    log,
    kind: 'verify',
    run: () => verifyRepository({ storage, log, backupId: args.backup, onProgress: (bytes, total) => progress.update(bytes, total) }),
    outcome: (r) => ({
      status: r.result,
      bytes: r.objects.bytes,
      error:
        r.result === 'passed'
          ? null
          : `${r.problems.length} problem(s): ${r.problems
              .map((p) => p.message)
              .slice(0, 3)
              .join('; ')}`,
    }),
  });
  progress.done();
  const seconds = (performance.now() - started) / 1000;
  process.stdout.write(config.json ? `${JSON.stringify(report)}\n` : formatReport(report, seconds));
  return report.result === 'passed' ? ExitCode.ok : ExitCode.verifyFailed;
}

/** The human summary: what was read, each backup's result, each problem on its own line. */
export function formatReport(r: VerifyReport, seconds: number): string {
  const mib = r.objects.bytes / 1048576;
  const lines = [
    `verify ${r.repository} (${r.scope}): ${r.objects.checked} object(s), ${mib.toFixed(1)} MiB read in ${seconds.toFixed(1)} s ` +
      `(${(mib / Math.max(seconds, 0.001)).toFixed(0)} MiB/s)`,
  ];
  for (const b of r.backups) lines.push(`  backup ${b.id}: ${b.result}${b.problems > 0 ? ` (${b.problems} problem(s))` : ''}`);
  for (const t of r.thinned) lines.push(`  not kept between backups (retention): ${t.from} .. ${t.to} (${t.segments} segment(s))`);
  const x = r.interruptedExpire;
  if (x) lines.push(`  ${describeInterruptedExpire(x.startedAt, x.backups)}`);
  for (const p of r.problems) lines.push(`  ${p.kind === 'gap' ? 'GAP' : p.kind.toUpperCase()}: ${p.message}`);
  lines.push(r.result === 'passed' ? 'verify passed' : `verify FAILED: ${r.problems.length} problem(s)`);
  return `${lines.join('\n')}\n`;
}

export const command = defineCommand({
  name: 'verify',
  describe: 'read every stored object against its checksum and check the WAL chains (exit 12 on a problem)',
  options,
  handler: verifyCommand,
});
