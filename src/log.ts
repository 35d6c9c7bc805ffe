// Logs on stderr (pino). JSON where stderr is not a terminal, so PostgreSQL's log collects what
// archive_command and restore_command say; at a terminal, short human lines among the
// command's own output. Synchronous writes: a process that exits right after its last line
// must not lose it.
import pino, { type DestinationStream, type Logger } from 'pino';
import type { LogLevel } from './config/config.js';

export type { Logger };

export function createLogger(level: LogLevel, command: string, human = process.stderr.isTTY === true): Logger {
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
    human ? humanLines(command) : pino.destination({ dest: 2, sync: true }),
  );
}

const LABELS: Record<number, string> = { 10: 'trace: ', 20: 'debug: ', 30: '', 40: 'warning: ', 50: 'error: ', 60: 'fatal: ' };
/** Fields every line carries, which a person at the terminal already knows. */
const ROUTINE = new Set(['level', 'time', 'pid', 'cmd', 'msg']);

/** "pitr backup: warning: <message> (key=value ...)": what pino wrote as JSON, for a person. */
export function humanLine(command: string, json: string): string {
  const entry = JSON.parse(json) as Record<string, unknown>;
  const fields = Object.entries(entry)
    .filter(([key]) => !ROUTINE.has(key))
    .map(([key, value]) => `${key}=${typeof value === 'string' ? value : JSON.stringify(value)}`);
  const details = fields.length > 0 ? ` (${fields.join(', ')})` : '';
  return `pitr ${command}: ${LABELS[entry.level as number] ?? ''}${String(entry.msg ?? '')}${details}\n`;
}

function humanLines(command: string): DestinationStream {
  // A terminal's writes are synchronous in Node.
  return { write: (json: string) => void process.stderr.write(humanLine(command, json)) };
}
