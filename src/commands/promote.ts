// `pitr promote --without-archive`: the one way to promote a standby while its repository
// cannot be reached. A standby's restore_command waits out an outage rather than answer
// "not found", because that answer would end recovery short of the archived WAL
// (archive/standby-outage.ts). This releases the waiting call for the server's current run
// and asks PostgreSQL to promote: it ends recovery with the WAL the standby already has.
import { spawnSync } from 'node:child_process';
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { RELEASE_FILE, releaseStandby } from '../archive/standby-outage.js';
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { ConfigError, InputError } from '../errors.js';
import { readMajorVersion } from '../pg/control-file.js';
import { pgProgram } from '../pg/binaries.js';
import { isStandby } from '../pg/standby.js';

async function promoteCommand({ config, log }: CommandContext, withoutArchive: boolean): Promise<void> {
  if (!withoutArchive) {
    throw new ConfigError(
      'pitr promote only promotes without the archive, and says so: pass --without-archive (to promote normally, use pg_ctl promote)',
    );
  }
  const dataDir = config.pgdata ?? process.cwd();
  if (!isStandby(dataDir))
    throw new InputError(`${dataDir} is not a standby (no standby.signal): set PGDATA (--pgdata) to the standby's data directory`);
  if (!releaseStandby(dataDir))
    throw new InputError(
      `no server runs in ${dataDir}: start the standby first, or promote it by removing standby.signal before it starts`,
    );
  log.warn({ dataDir }, 'released the standby from waiting for its repository: it promotes with the WAL it already has');

  // pg_ctl refuses to run as root: run it as the data directory's owner.
  const owner = statSync(dataDir);
  const asOwner = process.getuid?.() === 0 ? { uid: owner.uid, gid: owner.gid } : {};
  const pgCtl = pgProgram('pg_ctl', readMajorVersion(dataDir) ?? undefined);
  const res = spawnSync(pgCtl, ['promote', '-D', dataDir, '-w', '-t', '120'], { encoding: 'utf8', ...asOwner });
  if (res.status !== 0) {
    // The release stays for this run of the server: a promotion asked for by other means
    // proceeds without the archive too. Said, so that nobody is surprised by it.
    throw new InputError(
      `pg_ctl promote failed for ${dataDir}: ${(res.stderr || res.stdout || String(res.error)).trim()} (see the server log); ` +
        `the standby stays released from waiting for its repository until it restarts (remove ${join(dataDir, RELEASE_FILE)} to undo)`,
    );
  }
  process.stdout.write(`promoted ${dataDir} without waiting for the repository\n`);
}

export const command = defineCommand({
  name: 'promote',
  describe: 'promote a standby whose repository cannot be reached, with the WAL it has (--without-archive)',
  options: { 'without-archive': { type: 'boolean', describe: 'end recovery without the WAL the unreachable repository holds' } },
  handler: (ctx, args) => promoteCommand(ctx, args['without-archive'] === true),
});
