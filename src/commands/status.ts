// `pitr status`: health summary; exits non-zero when unhealthy so it can serve as a check.
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { ExitCode } from '../errors.js';
import { collectStatus, formatStatus } from '../status/status.js';
import { openStorage } from '../storage/open.js';

async function statusCommand({ config }: CommandContext): Promise<number> {
  const report = await collectStatus(await openStorage(config));
  process.stdout.write(config.json ? `${JSON.stringify(report)}\n` : formatStatus(report));
  return report.healthy ? ExitCode.ok : ExitCode.unhealthy;
}

export const command = defineCommand({
  name: 'status',
  describe: 'repository health: identity, newest archived WAL per timeline (exit 11 when unhealthy)',
  handler: statusCommand,
});
