// `pitr wal-push <path>`: PostgreSQL's archive_command. Exit 0 only once the file is durable.
// bin/pitr answers most calls itself from the resident archiver's records; this is the call
// that reaches Node (src/archive/push-call.ts).
import { archiveWalFile } from '../archive/push-call.js';
import { defineCommand } from '../cli/command.js';
import { ownCall } from '../launcher/fingerprint.js';

export const command = defineCommand({
  name: 'wal-push',
  walCommand: true,
  describe: "archive one WAL file (archive_command = 'pitr wal-push %p')",
  positionals: ['path'],
  // Quiet on success, as pgBackRest's console: PostgreSQL's log would get a line per segment.
  defaultLogLevel: 'warn',
  handler: ({ config, log }, { path }) => archiveWalFile(path, { config, log, ownCall: () => ownCall('wal-push') }),
});
