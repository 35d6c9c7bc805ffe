// Where this pitr's launcher is, for the commands PostgreSQL runs (archive_command,
// restore_command): it runs them with its own PATH, so they name bin/pitr absolutely.
import { dirname, join, resolve } from 'node:path';

/** The launcher this call came through (bin/pitr exports its own path), else the one beside the bundle. */
export function launcherPath(): string {
  return resolve(process.env.PITR_LAUNCHER ?? join(dirname(process.argv[1]!), '..', 'bin', 'pitr'));
}
