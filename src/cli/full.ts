// The full command line (yargs): help, usage errors and every command. The commands are
// modules of src/commands/ (name, description, options, handler); this file registers them
// and declares the settings every command shares.
import yargs, { type Argv, type Options } from 'yargs';
import { command as backup } from '../commands/backup.js';
import { command as init } from '../commands/init.js';
import { command as list } from '../commands/list.js';
import { command as promote } from '../commands/promote.js';
import { command as restore } from '../commands/restore.js';
import { command as status } from '../commands/status.js';
import { command as walFetch } from '../commands/wal-fetch.js';
import { command as walPush } from '../commands/wal-push.js';
import type { Flags } from '../config/config.js';
import { PLAIN_FLAGS, SETTINGS } from '../config/settings.js';
import { ExitCode } from '../errors.js';
import { VERSION } from '../version.js';
import type { AnyCommand } from './command.js';
import { runCommand } from './run.js';

/** The commands, in the order --help lists them. */
const COMMANDS: readonly AnyCommand[] = [init, walPush, walFetch, backup, restore, promote, list, status];

function globalOptions(): Record<string, Options> {
  const options: Record<string, Options> = {};
  // default: undefined keeps an absent flag absent, so the environment and file still apply.
  for (const s of SETTINGS) options[s.flag] = { type: s.type, describe: `${s.describe} [${s.key}]`, default: undefined, global: true };
  for (const [flag, def] of Object.entries(PLAIN_FLAGS))
    options[flag] = { type: def.type, describe: def.describe, default: undefined, global: true };
  return options;
}

function register(cli: Argv, command: AnyCommand): Argv {
  const positionals = command.positionals ?? [];
  return cli.command(
    [command.name, ...positionals.map((p) => `<${p}>`)].join(' '),
    command.describe,
    (y) => {
      for (const p of positionals) y.positional(p, { type: 'string', demandOption: true });
      return command.options ? command.options(y) : y;
    },
    async (argv) => {
      await runCommand(command, argv as Flags, argv);
    },
  );
}

export async function runCli(args: string[]): Promise<void> {
  let cli: Argv = yargs(args)
    .scriptName('pitr')
    .usage('$0 [global options] <command>\n\nPoint-in-time recovery for PostgreSQL. Docs: README.md, docs/.')
    .options(globalOptions());
  for (const command of COMMANDS) cli = register(cli, command);
  await cli
    .demandCommand(1, 'name a command (pitr --help lists them)')
    .strict()
    .version(VERSION)
    .help()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, err) => {
      process.stderr.write(`pitr: ${message ?? err?.message} (pitr --help shows usage)\n`);
      process.exit(ExitCode.usage);
    })
    .parseAsync();
}
