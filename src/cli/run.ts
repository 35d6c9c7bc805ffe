// Runs one command handler: loads the configuration, makes the logger, turns any error into
// one line on stderr and a stable exit code, and exits.
import type { Options } from 'yargs';
import { loadConfig, type Flags } from '../config/config.js';
import { ExitCode, FETCH_FATAL_OFFSET, PitrError } from '../errors.js';
import { createLogger, type Logger } from '../log.js';
import type { CommandArgs, PitrCommand } from './command.js';

/** `flags` are the settings' flags (read by loadConfig); `args` what the command's handler takes. */
export async function runCommand<O extends Record<string, Options>, P extends string>(
  pitrCommand: PitrCommand<O, P>,
  flags: Flags,
  args: CommandArgs<O, P>,
): Promise<never> {
  const command = pitrCommand.name;
  let log: Logger | undefined;
  let code: number;
  // If a bug leaves a promise that nothing will ever settle, Node empties its event loop and
  // exits 0: a backup that never finished would look like a success. Make that an error.
  process.once('beforeExit', () => {
    const stalled = new Error('the command stopped before finishing (a stream stalled); nothing it did is reported as done');
    process.exit(reportError(stalled, command, log));
  });
  try {
    // At a terminal, what info lines say is in the command's own output already.
    const config = loadConfig(flags, process.env, pitrCommand.defaultLogLevel ?? (process.stderr.isTTY ? 'warn' : 'info'), {
      walOnly: pitrCommand.walCommand === true,
    });
    log = createLogger(config.logLevel, command);
    for (const warning of config.warnings) log.warn(warning);
    code = (await pitrCommand.handler({ config, log }, args)) ?? ExitCode.ok;
  } catch (err) {
    code = reportError(err, command, log);
  }
  // bin/pitr tells "not found" apart from a Node that failed before pitr ran (see there).
  const notFound = Number(process.env.PITR_NOT_FOUND_EXIT);
  if (command === 'wal-fetch' && code === ExitCode.notFound && Number.isInteger(notFound) && notFound > 1 && notFound < 126)
    code = notFound;
  process.exit(code);
}

/** One line that says what failed and what to do; the stack only at debug level. */
export function reportError(err: unknown, command: string, log: Logger | undefined): number {
  const known = err instanceof PitrError;
  const message = known
    ? err.message
    : `unexpected error: ${(err as Error)?.message ?? String(err)} (run with --log-level debug for details)`;
  let code: number = known ? err.exitCode : ExitCode.internal;
  // restore_command: anything but "not found" must stop recovery (see FETCH_FATAL_OFFSET).
  if (command === 'wal-fetch' && code !== ExitCode.notFound) code += FETCH_FATAL_OFFSET;

  if (process.stderr.isTTY) {
    process.stderr.write(`pitr ${command}: ${message}\n`);
    if (log?.isLevelEnabled('debug')) log.debug({ err }, 'error details');
  } else {
    const logger = log ?? createLogger('info', command);
    const details = logger.isLevelEnabled('debug') ? { err } : {};
    logger.error({ exitCode: code, error: (err as Error)?.name, ...details }, message);
  }
  return code;
}
