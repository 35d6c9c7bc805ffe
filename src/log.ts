// Structured JSON logs on stderr (pino), so PostgreSQL's log collects what
// archive_command and restore_command say. Synchronous writes: a process that exits right
// after its last line must not lose it.
import pino, { type Logger } from 'pino';
import type { LogLevel } from './config/config.js';

export type { Logger };

export function createLogger(level: LogLevel, command: string): Logger {
  return pino(
    {
      level,
      base: { pid: process.pid, cmd: command },
      timestamp: pino.stdTimeFunctions.isoTime,
      // Defence in depth: nothing should log these, but if an object carrying them is ever
      // logged, the values are masked.
      redact: {
        paths: ['password', '*.password', 'secretAccessKey', '*.secretAccessKey', 'sessionToken', '*.sessionToken'],
        censor: '***',
      },
    },
    pino.destination({ dest: 2, sync: true }),
  );
}
