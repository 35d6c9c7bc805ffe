// `pitr check`: the set-up checked end to end (database, archive settings, repository
// writable, a forced WAL switch archived); each step printed as it passes, exit 14 naming the
// one that failed.
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { runCheck, type StepResult } from '../check/check.js';
import { parseDuration } from '../config/duration.js';
import { ConfigError, ExitCode } from '../errors.js';
import { openStorage } from '../storage/open.js';

async function checkCommand({ config }: CommandContext, args: { timeout?: string }): Promise<number> {
  const text = args.timeout ?? '60s';
  const timeoutMs = /^\s*\d+\s*$/.test(text) ? Number(text) * 1000 : parseDuration(text);
  if (timeoutMs === null || timeoutMs <= 0) throw new ConfigError(`--timeout "${text}" is not a duration: write it as 30s, 2m, or seconds`);
  const steps: StepResult[] = [];
  const ok = await runCheck({
    config,
    storage: await openStorage(config),
    timeoutMs,
    onStep: (r) => {
      steps.push(r);
      if (!config.json) process.stdout.write(`${r.ok ? 'ok    ' : 'FAILED'} ${r.step.padEnd(10)} ${r.detail}\n`);
    },
  });
  if (config.json) process.stdout.write(`${JSON.stringify({ ok, failedStep: steps.find((s) => !s.ok)?.step ?? null, steps })}\n`);
  else if (!ok) process.stderr.write(`pitr check: step "${steps.at(-1)!.step}" failed: ${steps.at(-1)!.detail}\n`);
  return ok ? ExitCode.ok : ExitCode.checkFailed;
}

export const command = defineCommand({
  name: 'check',
  describe:
    'end-to-end set-up check: database, archive_mode/archive_command, repository writable, a forced WAL switch archived (exit 14 naming the failing step)',
  options: {
    timeout: { type: 'string', describe: 'how long to wait for the forced WAL switch to be archived (default 60s)' },
  },
  handler: checkCommand,
});
