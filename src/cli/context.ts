import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';

/** What every command handler receives. */
export interface CommandContext {
  config: Config;
  log: Logger;
}
