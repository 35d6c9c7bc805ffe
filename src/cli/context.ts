import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';

/** What every command handler receives. */
export interface CommandContext {
  config: Config;
  log: Logger;
}

/** A handler returns its exit code (0 when omitted) or throws a PitrError. */
export type CommandHandler = (ctx: CommandContext) => Promise<number | void>;
