// The full command line (yargs): help, usage errors and every command. Each command is a
// shim that hands its arguments to a handler in src/commands/.
import yargs, { type Argv, type Options } from 'yargs';
import type { Flags } from '../config/config.js';
import { PLAIN_FLAGS, SETTINGS } from '../config/settings.js';
import { ExitCode } from '../errors.js';
import { VERSION } from '../version.js';
import type { CommandContext } from './context.js';
import { runCommand } from './run.js';

function globalOptions(): Record<string, Options> {
  const options: Record<string, Options> = {};
  // default: undefined keeps an absent flag absent, so the environment and file still apply.
  for (const s of SETTINGS) options[s.flag] = { type: s.type, describe: `${s.describe} [${s.key}]`, default: undefined, global: true };
  for (const [flag, def] of Object.entries(PLAIN_FLAGS)) options[flag] = { type: def.type, describe: def.describe, default: undefined, global: true };
  return options;
}

type ArgvHandler = (ctx: CommandContext, argv: Flags) => Promise<number | void>;

/** A yargs handler that imports the command's module only when that command runs. */
function lazy(command: string, load: () => Promise<ArgvHandler>) {
  return async (argv: unknown): Promise<void> => {
    const handler = await load();
    await runCommand(command, argv as Flags, (ctx) => handler(ctx, argv as Flags));
  };
}

export async function runCli(args: string[]): Promise<void> {
  const cli: Argv = yargs(args)
    .scriptName('pitr')
    .usage('$0 [global options] <command>\n\nPoint-in-time recovery for PostgreSQL. Docs: README.md, docs/.')
    .options(globalOptions())
    .command(
      'init',
      'bind the repository to this cluster (idempotent)',
      () => {},
      lazy('init', async () => (await import('../commands/init.js')).initCommand),
    )
    .command(
      'wal-push <path>',
      "archive one WAL file (archive_command = 'pitr wal-push %p')",
      (y) => y.positional('path', { type: 'string', demandOption: true }),
      lazy('wal-push', async () => {
        const { walPushCommand } = await import('../commands/wal-push.js');
        return (ctx, argv) => walPushCommand(ctx, String(argv.path));
      }),
    )
    .command(
      'wal-fetch <name> <dest>',
      "restore one archived file (restore_command = 'pitr wal-fetch %f %p')",
      (y) => y.positional('name', { type: 'string', demandOption: true }).positional('dest', { type: 'string', demandOption: true }),
      lazy('wal-fetch', async () => {
        const { walFetchCommand } = await import('../commands/wal-fetch.js');
        return (ctx, argv) => walFetchCommand(ctx, String(argv.name), String(argv.dest));
      }),
    )
    .command(
      'backup',
      'take a base backup into the repository (pg_basebackup, streamed and compressed)',
      () => {},
      lazy('backup', async () => (await import('../commands/backup.js')).backupCommand),
    )
    .command(
      'list',
      'backups, archived WAL per timeline with any gaps (--json)',
      () => {},
      lazy('list', async () => (await import('../commands/list.js')).listCommand),
    )
    .command(
      'status',
      'repository health: identity, newest archived WAL per timeline (exit 11 when unhealthy)',
      () => {},
      lazy('status', async () => (await import('../commands/status.js')).statusCommand),
    )
    .demandCommand(1, 'name a command (pitr --help lists them)')
    .strict()
    .version(VERSION)
    .help()
    .wrap(Math.min(110, process.stdout.columns ?? 110))
    .fail((message, err) => {
      process.stderr.write(`pitr: ${message ?? err?.message} (pitr --help shows usage)\n`);
      process.exit(ExitCode.usage);
    });
  await cli.parseAsync();
}
