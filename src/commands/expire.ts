// `pitr expire`: the retention policy applied (src/expire/expire.ts); --dry-run shows what
// would go and the restorable window before and after.
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { checkedTimeZone } from '../config/time-zone.js';
import { expire, type ExpireReport } from '../expire/expire.js';
import { describeWindow } from '../repository/restorable-window.js';
import { runRecordedJob } from '../jobs/recorded-job.js';
import { openStorage } from '../storage/open.js';

const options = {
  'dry-run': {
    type: 'boolean',
    default: false,
    describe: 'delete nothing: print what would go and the restorable window before and after',
  },
} as const;

async function expireCommand({ config, log }: CommandContext, args: { 'dry-run': boolean }): Promise<void> {
  const rules = { ...config.retention, timeZone: checkedTimeZone(config.retention.timeZone) };
  const storage = await openStorage(config);
  const dryRun = args['dry-run'];
  const run = () => expire(storage, { rules, dryRun, log });
  // A dry run changes nothing: it is a question, not a job.
  const report = dryRun
    ? await run()
    : await runRecordedJob({ storage, log, kind: 'expire', run, outcome: (r) => ({ status: 'passed', bytes: r.bytes }) });
  process.stdout.write(config.json ? `${JSON.stringify(report)}\n` : formatReport(report));
}

const mib = (bytes: number) => `${(bytes / 1048576).toFixed(1)} MiB`;

export function formatReport(r: ExpireReport): string {
  if (!r.ruleSet) {
    return (
      `expire: no retention rule is set (PITR_RETENTION_FULL, _WINDOW, _DAILY, _WEEKLY, _MONTHLY): nothing deleted, ` +
      `the repository grows without bound\n`
    );
  }
  const would = r.dryRun ? 'would delete' : 'deleted';
  const lines = [
    `expire${r.dryRun ? ' (dry run: nothing deleted)' : ''}: ${would} ${r.expired.length} backup(s) and ${r.wal.files} WAL file(s): ` +
      `${r.objects} object(s), ${mib(r.bytes)}${r.dryRun ? '' : ' freed'}`,
  ];
  if (r.resumes) lines.push(`  ${r.dryRun ? 'would finish' : 'finished'} an expire that began ${r.resumes} and was interrupted`);
  for (const e of r.expired) lines.push(`  backup ${e.id}  stopped ${e.stopTime}  ${e.objects} object(s), ${mib(e.bytes)}`);
  if (r.wal.files > 0) lines.push(`  WAL ${r.wal.first} .. ${r.wal.last}  ${r.wal.files} file(s), ${mib(r.wal.bytes)}`);
  for (const id of r.leftovers.backups) lines.push(`  backup ${id}  without a manifest: data of an interrupted backup or expire`);
  for (const id of r.leftovers.pins) lines.push(`  pin of backup ${id}, which no longer exists`);
  for (const id of r.leftovers.verifications) lines.push(`  verify result of backup ${id}, which no longer exists`);
  lines.push('kept');
  for (const k of r.kept)
    lines.push(`  backup ${k.id}  stopped ${k.stopTime}  (${k.reasons.join(', ')})${k.walThinned ? '  WAL start..stop only' : ''}`);
  lines.push(`restorable window before  ${describeWindow(r.restorableWindowBefore)}`);
  lines.push(`restorable window after   ${describeWindow(r.restorableWindowAfter)}`);
  const thinned = r.kept.filter((k) => k.walThinned);
  if (thinned.length > 0)
    lines.push(`  and the end of each backup kept with its own WAL only: ${thinned.map((k) => k.stopTime).join(', ')}`);
  return `${lines.join('\n')}\n`;
}

export const command = defineCommand({
  name: 'expire',
  describe: 'delete the backups and WAL the retention policy (PITR_RETENTION_*) no longer keeps (--dry-run, --json)',
  options,
  handler: expireCommand,
});
