// What a command module exports (pnpm-style): its name, description, positionals, its own
// options and its handler. src/cli/full.ts registers these with yargs; src/cli/fast.ts runs the
// hot ones without yargs, so a module imports yargs' types only, never yargs itself.
import type { InferredOptionTypes, Options } from 'yargs';
import type { LogLevel } from '../config/config.js';
import type { CommandContext } from './context.js';

/** What a handler receives: each positional as a string, each option as its declaration types it. */
export type CommandArgs<O extends Record<string, Options>, P extends string> = InferredOptionTypes<O> & Record<P, string>;

export interface PitrCommand<O extends Record<string, Options> = Record<string, Options>, P extends string = string> {
  readonly name: string;
  readonly describe: string;
  /** Positional arguments, in order, all required. */
  readonly positionals?: readonly P[];
  /** The command's own options (the settings every command shares are declared in config/settings.ts). */
  readonly options?: O;
  /**
   * The log level when neither --log-level, PITR_LOG_LEVEL nor the config file sets one.
   * PostgreSQL's archive_command and restore_command say nothing on success by default.
   */
  readonly defaultLogLevel?: LogLevel;
  /** A WAL command (archive_command, restore_command, their workers): job settings stay unread (loadConfig's walOnly). */
  readonly walCommand?: true;
  /** Returns the exit code (0 when omitted) or throws a PitrError. */
  readonly handler: (ctx: CommandContext, args: CommandArgs<O, P>) => Promise<number | void>;
}

/** Infers the arguments' types from the declaration, for the handler. */
export function defineCommand<const O extends Record<string, Options> = Record<string, never>, const P extends string = never>(
  command: PitrCommand<O, P>,
): PitrCommand<O, P> {
  return command;
}

/** A command of any arguments, for the registries: each module's own type checks its handler. */
// eslint-disable-next-line @typescript-eslint/no-explicit-any
export type AnyCommand = PitrCommand<any, any>;
