// `pitr notify --test`: a test message through every configured notification channel
// (src/notify/test-message.ts). Exit 0 when every channel accepted it, 16 otherwise. The real
// notifications are the agent's.
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { ConfigError, ExitCode, NotifyError } from '../errors.js';

const options = {
  test: { type: 'boolean', describe: 'send a test message through every configured channel (Slack, webhook, e-mail)' },
} as const;

async function notifyCommand({ config, log }: CommandContext, args: { test?: boolean }): Promise<number> {
  if (args.test !== true)
    throw new ConfigError('pitr notify only sends a test message: run pitr notify --test (the agent sends the real notifications)');
  // Loaded here: it brings the channels (and, for e-mail, nodemailer).
  const { formatTestResults, runNotifyTest } = await import('../notify/test-message.js');
  const results = await runNotifyTest(config);
  for (const r of results)
    log.info({ channel: r.name, target: r.target, ok: r.ok, attempts: r.attempts, ms: r.ms, error: r.error }, 'test notification');
  process.stdout.write(config.json ? `${JSON.stringify({ channels: results })}\n` : formatTestResults(results));
  const failed = results.filter((r) => !r.ok);
  if (failed.length > 0)
    throw new NotifyError(
      `the test notification did not reach ${failed.map((r) => `${r.name} (${r.target}) [${r.error}]`).join(', ')}: fix the settings of ${failed.length > 1 ? 'these channels' : 'this channel'} (docs/configuration.md, Notifications) and run pitr notify --test again`,
    );
  return ExitCode.ok;
}

export const command = defineCommand({
  name: 'notify',
  describe: 'send a test message through every configured notification channel (exit 16 when one fails)',
  options,
  handler: notifyCommand,
});
