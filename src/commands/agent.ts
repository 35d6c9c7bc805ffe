// `pitr agent`: the long-running service (src/agent/agent.ts): schedules, health watch,
// notifications. Runs until SIGTERM or SIGINT; SIGHUP reads the configuration again.
import { runAgent } from '../agent/agent.js';
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { launcherPath } from '../cli/launcher.js';
import { loadConfig, type Flags } from '../config/config.js';
import { START_ENV, workerFlags } from '../launcher/fingerprint.js';

async function agentCommand({ config, log }: CommandContext, args: Flags): Promise<void> {
  let first: typeof config | undefined = config;
  await runAgent({
    // The first read is the one the command line made; SIGHUP reads the file again, in the
    // environment the agent started with.
    loadConfig: () => {
      const c = first ?? loadConfig(args, { ...START_ENV }, config.logLevel);
      first = undefined;
      return c;
    },
    log,
    pitr: launcherPath(),
    // Every job runs as `pitr [these flags] <job>`: the same repository and settings.
    flags: workerFlags('agent'),
  });
}

export const command = defineCommand({
  name: 'agent',
  describe: 'the service: runs the backup, verify and restore-test schedules, watches health, notifies on every change (SIGHUP reloads)',
  handler: (ctx, args) => agentCommand(ctx, args as Flags),
});
