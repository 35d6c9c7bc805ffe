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
  for (const [flag, def] of Object.entries(PLAIN_FLAGS))
    options[flag] = { type: def.type, describe: def.describe, default: undefined, global: true };
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
      'restore',
      'restore a backup and recover to a point in time (--to, --latest, --lsn, --xid, --name, --immediate)',
      (y) =>
        y
          .option('target-dir', { type: 'string', demandOption: true, describe: 'new or empty directory for the restored data directory' })
          .option('to', { type: 'string', describe: 'recover to this time (ISO 8601 or PostgreSQL text, with a zone)' })
          .option('latest', { type: 'boolean', describe: 'recover all archived WAL' })
          .option('lsn', { type: 'string', describe: 'recover to this WAL position' })
          .option('xid', { type: 'string', describe: 'recover to the commit of this transaction' })
          .option('name', { type: 'string', describe: 'recover to this restore point (pg_create_restore_point)' })
          .option('immediate', { type: 'boolean', describe: 'stop as soon as the backup is consistent' })
          .option('backup', { type: 'string', describe: 'restore this backup id instead of choosing one' })
          .option('timeline', { type: 'string', describe: 'latest (default), current, or a timeline number' })
          .option('action', { choices: ['promote', 'pause', 'shutdown'], describe: 'at the target (default promote)' })
          .option('exclusive', { type: 'boolean', describe: 'stop just before the target instead of just after' })
          .option('start', { type: 'boolean', describe: 'start the server and wait until recovery ends' })
          .option('force', {
            type: 'boolean',
            describe: 'replace the contents of a non-empty target directory (never one with a running server)',
          })
          .option('port', { type: 'number', describe: 'port for the restored server (written to postgresql.auto.conf)' })
          .option('archive-mode', {
            choices: ['preserve', 'off'],
            describe: 'off (default): the restored server does not archive; preserve: it archives into this repository as the new primary',
          }),
      lazy('restore', async () => (await import('../commands/restore.js')).restoreCommand),
    )
    .command(
      'promote',
      'promote a standby whose repository cannot be reached, with the WAL it has (--without-archive)',
      (y) => y.option('without-archive', { type: 'boolean', describe: 'end recovery without the WAL the unreachable repository holds' }),
      lazy('promote', async () => {
        const { promoteCommand } = await import('../commands/promote.js');
        return (ctx, argv) => promoteCommand(ctx, argv['without-archive'] === true);
      }),
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
