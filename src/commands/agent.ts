// `pitr agent`: the long-running service (src/agent/agent.ts): schedules, health watch,
// notifications. Runs until SIGTERM or SIGINT; SIGHUP reads the configuration again.
import { runAgent } from '../agent/agent.js';
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { launcherPath } from '../cli/launcher.js';
import { loadConfig, type Flags } from '../config/config.js';
import { FLAG_SETTINGS, PASS_THROUGH_KEYS } from '../config/settings.js';
import { START_ENV } from '../launcher/fingerprint.js';

/**
 * The configuration read again (SIGHUP) as at start: the command line, the environment the
 * agent started with, the file as it is now. The libpq and AWS keys the file passes on reach
 * this process's environment again (pg and the SDK read them there), new values and removals
 * included; those the starting environment set itself stay as they were.
 */
function reloadConfig(args: Flags, level: ReturnType<typeof loadConfig>['logLevel']) {
  const env = { ...START_ENV };
  const config = loadConfig(args, env, level);
  for (const key of PASS_THROUGH_KEYS) {
    if (START_ENV[key] !== undefined) continue;
    if (env[key] === undefined) delete process.env[key];
    else process.env[key] = env[key];
  }
  return config;
}

/**
 * The agent's own flags, for its jobs: every setting and --config / --db-url it was given,
 * wherever on its command line (`pitr --repo X agent` and `pitr agent --repo X` alike).
 * Not --json: a job's output is the agent's to read, not to print.
 */
export function jobFlags(args: Flags): string[] {
  const flags: string[] = [];
  for (const name of [...FLAG_SETTINGS.map((s) => s.flag), 'config', 'db-url']) {
    const value = args[name];
    if (value === undefined) continue;
    if (typeof value === 'boolean') flags.push(value ? `--${name}` : `--no-${name}`);
    else flags.push(`--${name}`, value);
  }
  return flags;
}

async function agentCommand({ config, log }: CommandContext, args: Flags): Promise<void> {
  let first: typeof config | undefined = config;
  await runAgent({
    loadConfig: () => {
      const c = first ?? reloadConfig(args, config.logLevel);
      first = undefined;
      return c;
    },
    log,
    pitr: launcherPath(),
    // Every job runs as `pitr [these flags] <job>`: the same repository and settings; in the
    // environment the agent started with, so that it reads the config file as it is now.
    flags: jobFlags(args),
    jobEnv: START_ENV,
  });
}

export const command = defineCommand({
  name: 'agent',
  describe: 'the service: runs the backup, verify and restore-test schedules, watches health, notifies on every change (SIGHUP reloads)',
  handler: (ctx, args) => agentCommand(ctx, args as Flags),
});
