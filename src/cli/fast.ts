// The lean entry for PostgreSQL's archive_command and restore_command. These run once per
// WAL segment, so they skip yargs (and its ~50 ms) and parse with node's own parseArgs,
// using the same option table. Anything unusual (help, a bad flag, another command) goes
// to the full CLI, which prints proper usage.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Flags } from '../config/config.js';
import { PLAIN_FLAGS, SETTINGS } from '../config/settings.js';
import { runCommand } from './run.js';

// The background workers come this way too: they are started for every busy stretch.
const HOT_COMMANDS: Record<string, number> = { 'wal-push': 1, 'wal-fetch': 2, 'wal-prefetch': 0, 'wal-archive-ahead': 0 };

export async function tryFastPath(argv: string[]): Promise<boolean> {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const s of SETTINGS) options[s.flag] = { type: s.type };
  for (const [flag, def] of Object.entries(PLAIN_FLAGS)) options[flag] = { type: def.type };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch {
    return false;
  }
  const [command, ...args] = parsed.positionals;
  if (command === undefined || HOT_COMMANDS[command] !== args.length) return false;
  const flags = parsed.values as Flags;
  if (command === 'wal-push') {
    const { walPushCommand } = await import('../commands/wal-push.js');
    return runCommand(command, flags, (ctx) => walPushCommand(ctx, args[0]!));
  }
  if (command === 'wal-prefetch') {
    const { walPrefetchCommand } = await import('../commands/wal-prefetch.js');
    return runCommand(command, flags, (ctx) => walPrefetchCommand(ctx));
  }
  if (command === 'wal-archive-ahead') {
    const { walArchiveAheadCommand } = await import('../commands/wal-archive-ahead.js');
    return runCommand(command, flags, (ctx) => walArchiveAheadCommand(ctx));
  }
  const { walFetchCommand } = await import('../commands/wal-fetch.js');
  return runCommand(command, flags, (ctx) => walFetchCommand(ctx, args[0]!, args[1]!));
}
