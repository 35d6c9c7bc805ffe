// `pitr status`: health summary; exits 11 when unhealthy, naming every problem, so it can serve
// as a check.
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { ExitCode } from '../errors.js';
import { readDatabaseFacts } from '../status/database.js';
import { collectStatus, formatStatus } from '../status/status.js';
import { openStorage } from '../storage/open.js';

async function statusCommand({ config }: CommandContext): Promise<number> {
  const [storage, database] = await Promise.all([openStorage(config), readDatabaseFacts(config)]);
  const report = await collectStatus({
    storage,
    database,
    alerts: config.alerts,
    retention: config.retention,
  });
  process.stdout.write(config.json ? `${JSON.stringify(report)}\n` : formatStatus(report));
  return report.healthy ? ExitCode.ok : ExitCode.unhealthy;
}

export const command = defineCommand({
  name: 'status',
  describe:
    'health: archiver failures and backlog, last backup, last verify and restore test, WAL gaps in the restorable window (exit 11 when unhealthy, naming each problem)',
  handler: statusCommand,
});
