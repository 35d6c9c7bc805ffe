// What a command module exports (pnpm-style): its name, description, positionals, its own
// options and its handler. src/cli/full.ts registers these with yargs; src/cli/fast.ts runs the
// hot ones without yargs, so a module imports yargs' types only, never yargs itself.
import type { Argv } from 'yargs';
import type { LogLevel } from '../config/config.js';
import type { CommandContext } from './context.js';

export interface PitrCommand<A extends object = object> {
  readonly name: string;
  readonly describe: string;
  /** Positional arguments, in order; each becomes a required string property of the arguments. */
  readonly positionals?: readonly string[];
  /** The command's own options (the settings every command shares are declared in full.ts). */
  readonly options?: (y: Argv) => Argv<A>;
  /**
   * The log level when neither --log-level, PITR_LOG_LEVEL nor the config file sets one.
   * PostgreSQL's archive_command and restore_command say nothing on success by default.
   */
  readonly defaultLogLevel?: LogLevel;
  /** Returns the exit code (0 when omitted) or throws a PitrError. */
  readonly handler: (ctx: CommandContext, args: A) => Promise<number | void>;
}

/** Keeps the arguments' type from the options builder through to the handler. */
export function defineCommand<A extends object>(command: PitrCommand<A>): PitrCommand<A> {
  return command;
}

/** A command of any arguments, for the registries: each module's own type checks its handler. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommand = PitrCommand<any>;
