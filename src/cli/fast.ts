// The lean entry for PostgreSQL's archive_command and restore_command. These run once per
// WAL segment, so they skip yargs (and its ~50 ms) and parse with node's own parseArgs,
// using the same option table. Anything unusual (help, a bad flag, another command) goes
// to the full CLI, which prints proper usage.
import { parseArgs, type ParseArgsConfig } from 'node:util';
import type { Flags } from '../config/config.js';
import { FLAG_SETTINGS, PLAIN_FLAGS } from '../config/settings.js';
import type { AnyCommand } from './command.js';
import { runCommand } from './run.js';

// The background workers come this way too: they are started for every busy stretch.
const HOT_COMMANDS: Record<string, () => Promise<AnyCommand>> = {
  'wal-push': async () => (await import('../commands/wal-push.js')).command,
  'wal-fetch': async () => (await import('../commands/wal-fetch.js')).command,
  'wal-prefetch': async () => (await import('../commands/wal-prefetch.js')).command,
  'wal-archive-ahead': async () => (await import('../commands/wal-archive-ahead.js')).command,
};

export async function tryFastPath(argv: string[]): Promise<boolean> {
  const options: NonNullable<ParseArgsConfig['options']> = {};
  for (const s of FLAG_SETTINGS) options[s.flag] = { type: s.type };
  for (const [flag, def] of Object.entries(PLAIN_FLAGS)) options[flag] = { type: def.type };
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options, allowPositionals: true, strict: true });
  } catch {
    return false;
  }
  const [name, ...args] = parsed.positionals;
  const load = name === undefined ? undefined : HOT_COMMANDS[name];
  if (!load) return false;
  const command = await load();
  const positionals = command.positionals ?? [];
  if (positionals.length !== args.length) return false;
  return runCommand(command, parsed.values as Flags, Object.fromEntries(positionals.map((p, i) => [p, args[i]!])));
}
