// The full command line (yargs): help, usage errors and every command. The commands are
// modules of src/commands/ (name, description, options, handler); this file registers them
// and declares the settings every command shares.
import yargs, { type Argv, type Options } from 'yargs';
import { command as agent } from '../commands/agent.js';
import { command as backup } from '../commands/backup.js';
import { command as check } from '../commands/check.js';
import { command as expire } from '../commands/expire.js';
import { command as history } from '../commands/history.js';
import { command as init } from '../commands/init.js';
import { command as list } from '../commands/list.js';
import { command as notify } from '../commands/notify.js';
import { command as pin } from '../commands/pin.js';
import { command as promote } from '../commands/promote.js';
import { command as restore } from '../commands/restore.js';
import { command as restoreTest } from '../commands/restore-test.js';
import { command as status } from '../commands/status.js';
import { command as unpin } from '../commands/unpin.js';
import { command as verify } from '../commands/verify.js';
import { command as walFetch } from '../commands/wal-fetch.js';
import { command as walPush } from '../commands/wal-push.js';
import type { Flags } from '../config/config.js';
import { FLAG_SETTINGS, HELP_GROUPS, PLAIN_FLAGS, type HelpGroup } from '../config/settings.js';
import { ExitCode } from '../errors.js';
import { VERSION } from '../version.js';
import type { AnyCommand, CommandArgs } from './command.js';
import { runCommand } from './run.js';
import { usageMessage } from './usage-error.js';

/** The commands an operator runs, in the order --help lists them (wal-push and wal-fetch start the resident workers). */
export const COMMANDS: readonly AnyCommand[] = [
  init,
  walPush,
  walFetch,
  backup,
  restore,
  promote,
  list,
  expire,
  pin,
  unpin,
  verify,
  status,
  check,
  restoreTest,
  history,
  notify,
  agent,
];

/** Every flag all commands share (the settings and the plain flags), with its --help heading. */
const SHARED: { flag: string; group: HelpGroup; option: Options }[] = [
  ...FLAG_SETTINGS.map((s) => ({ flag: s.flag, group: s.group, option: { type: s.type, describe: `${s.describe} [${s.key}]` } })),
  ...Object.entries(PLAIN_FLAGS).map(([flag, def]) => ({ flag, group: def.group, option: { type: def.type, describe: def.describe } })),
];
/** What --help lists under each heading: the shared flags, and yargs' own. */
const SHARED_FLAGS: [string, HelpGroup][] = [
  ...SHARED.map((s): [string, HelpGroup] => [s.flag, s.group]),
  ['help', 'general'],
  ['version', 'general'],
];

function globalOptions(): Record<string, Options> {
  // default: undefined keeps an absent flag absent, so the environment and file still apply.
  return Object.fromEntries(SHARED.map((s) => [s.flag, { ...s.option, default: undefined, global: true }]));
}

/** The shared flags under their headings, after the command's own options (yargs' "Options:"). */
function groupSharedOptions(y: Argv): Argv {
  for (const [group, heading] of Object.entries(HELP_GROUPS))
    y.group(
      SHARED_FLAGS.filter(([, g]) => g === group).map(([flag]) => flag),
      heading,
    );
  return y;
}

/** What a usage error names: the command yargs recognised, if any, and the options it takes. */
interface Parsing {
  command?: string;
  options: string[];
}

function register(cli: Argv, command: AnyCommand, parsing: Parsing): Argv {
  const positionals: string[] = [...(command.positionals ?? [])];
  const own = Object.keys(command.options ?? {});
  return cli.command(
    [command.name, ...positionals.map((p) => `<${p}>`)].join(' '),
    command.describe,
    (y) => {
      for (const p of positionals) y.positional(p, { type: 'string', demandOption: true });
      parsing.command = command.name;
      parsing.options = [...own, ...SHARED_FLAGS.map(([flag]) => flag)];
      return groupSharedOptions(y.options(command.options ?? {}).group(own, 'Options:'));
    },
    async (argv) => {
      // yargs checked the arguments against the same declaration the handler's type comes from.
      await runCommand(command, argv as Flags, argv as CommandArgs<never, never>);
    },
  );
}

export async function runCli(args: string[]): Promise<void> {
  let cli: Argv = yargs(args)
    .scriptName('pitr')
    .usage('$0 [global options] <command>\n\nPoint-in-time recovery for PostgreSQL. Docs: README.md, docs/.')
    .options(globalOptions());
  const parsing: Parsing = { options: SHARED_FLAGS.map(([flag]) => flag) };
  for (const command of COMMANDS) cli = register(cli, command, parsing);
  await groupSharedOptions(cli)
    .demandCommand(1, 'name a command')
    .strict()
    .version(VERSION)
    .help()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, err) => {
      const text = message ? usageMessage(message, { args, commands: COMMANDS.map((c) => c.name), ...parsing }) : err?.message;
      process.stderr.write(`pitr: ${text}\n`);
      process.exit(ExitCode.usage);
    })
    .parseAsync();
}
