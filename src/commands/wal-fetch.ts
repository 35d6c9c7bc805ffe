// `pitr wal-fetch <name> <dest>`: PostgreSQL's restore_command. Exit 1 quietly when the file
// is not archived; any other failure exits above 125 (see errors.ts) so recovery stops
// instead of ending early. bin/pitr serves most calls itself from the prefetch spool; this
// is the call that reaches Node (src/archive/fetch-call.ts).
import { restoreWalFile } from '../archive/fetch-call.js';
import { defineCommand } from '../cli/command.js';
import { ownCall } from '../launcher/fingerprint.js';

export const command = defineCommand({
  name: 'wal-fetch',
  walCommand: true,
  describe: "restore one archived file (restore_command = 'pitr wal-fetch %f %p')",
  positionals: ['name', 'dest'],
  // Quiet on success, as pgBackRest's console: PostgreSQL's log would get a line per segment.
  defaultLogLevel: 'warn',
  handler: ({ config, log }, { name, dest }) => restoreWalFile(name, dest, { config, log, ownCall: () => ownCall('wal-fetch') }),
});
