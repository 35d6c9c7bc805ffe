// `pitr history`: the jobs that ran against this repository, newest first (repository/job-history.ts).
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { ConfigError } from '../errors.js';
import { readHistory, type JobView } from '../repository/job-history.js';
import { openStorage } from '../storage/open.js';

const options = {
  limit: { type: 'number', default: 20, describe: 'show the newest N jobs' },
} as const;

async function historyCommand({ config, log }: CommandContext, args: { limit: number }): Promise<void> {
  if (!Number.isInteger(args.limit) || args.limit < 1)
    throw new ConfigError(`--limit ${args.limit} is not a count: give a whole number of at least 1`);
  const { jobs, damaged } = await readHistory(await openStorage(config), args.limit);
  for (const d of damaged) log.warn(`left out: ${d}`);
  process.stdout.write(config.json ? `${JSON.stringify({ jobs })}\n` : formatHistory(jobs));
}

export function formatHistory(jobs: JobView[]): string {
  if (jobs.length === 0) return 'no job recorded yet\n';
  const rows = jobs.map((j) => [
    j.startedAt.replace(/\.\d+Z$/, 'Z'),
    j.kind,
    j.status.toUpperCase(),
    j.durationSeconds === null ? '-' : `${j.durationSeconds.toFixed(1)} s`,
    j.bytes === null ? '-' : `${(j.bytes / 1048576).toFixed(1)} MiB`,
    j.host,
    j.trigger,
    j.error ?? '',
  ]);
  const header = ['started', 'job', 'result', 'duration', 'bytes', 'host', 'by', 'error'];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!)))
      .join('  ')
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

export const command = defineCommand({
  name: 'history',
  describe: 'the jobs that ran against this repository (backup, expire, verify, restore-test), newest first',
  options,
  handler: historyCommand,
});
