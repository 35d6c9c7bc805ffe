// Keeps the resident archiver (`pitr wal-archive-ahead`) running while the agent runs, so a
// burst of WAL never waits for the first wal-push to boot Node and the archiver (3-4 segments
// waiting in the first two seconds otherwise). The archiver is started exactly as PostgreSQL's
// own archive_command would start it: the same command line (archive_command with its
// `wal-push %p` turned into `wal-archive-ahead`), the postmaster's environment (read from
// /proc), the data directory as working directory and its owner as user. So its invocation
// fingerprint is the one PostgreSQL's calls have, and bin/pitr takes its records. It stays
// while the agent lives (WARM_FOR_AGENT_ENV) and is started again whenever it is gone.
// Anything unusual (no PGDATA, archive_command not pitr's, another user's server) only means
// a cold start, as without the agent: logged once, never an error.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { ARCHIVER_COMMAND, WARM_FOR_AGENT_ENV } from '../archive/archiver.js';
import { liveWorker } from '../archive/workers.js';
import type { Config } from '../config/config.js';
import { archiverPidFile } from '../launcher/handoff.js';
import type { Logger } from '../log.js';
import { isDataDir } from '../pg/control-file.js';
import { dataDirOwner } from '../pg/data-dir.js';
import { runningServer } from '../pg/postmaster-pid.js';

/** How often the archiver is looked for: a pid file and /proc read, no more. */
const LOOK_EVERY_MS = 2000;
/** After a start that did not last, wait before the next: doubling up to this. */
const LONGEST_BACKOFF_MS = 5 * 60_000;

export interface ArchiverWarmth {
  /** archive_command as the server has it now (the health watch reads it), or null when unknown. */
  update(archiveCommand: string | null): void;
  stop(): void;
}

/** The archiver's command line from archive_command: null when archive_command does not end in pitr's `wal-push %p`. */
export function archiverCommandLine(archiveCommand: string): string | null {
  const m = /^(.*\S)\s+wal-push\s+(?:%p|"%p"|'%p')\s*$/.exec(archiveCommand.trim());
  return m ? `${m[1]} ${ARCHIVER_COMMAND}` : null;
}

export function keepArchiverWarm(o: { config: Config; log: Logger }): ArchiverWarmth {
  const dataDir = o.config.pgdata;
  const said = new Set<string>();
  const once = (why: string) => {
    if (said.has(why)) return;
    said.add(why);
    o.log.info(`the resident archiver is not kept warm: ${why}`);
  };
  if (!dataDir || !isDataDir(dataDir)) {
    once("PGDATA (--pgdata) does not name this server's data directory; the archiver starts with PostgreSQL's first wal-push");
    return { update: () => undefined, stop: () => undefined };
  }
  let commandLine: string | null = null;
  let backoffMs = LOOK_EVERY_MS;
  let notBefore = 0;
  let lastStart = 0;

  const look = async () => {
    if (commandLine === null || Date.now() < notBefore) return;
    const server = runningServer(dataDir);
    if (!server) return;
    if (await liveWorker(archiverPidFile(dataDir), ARCHIVER_COMMAND)) {
      if (Date.now() - lastStart > 60_000) backoffMs = LOOK_EVERY_MS; // it lasted: starts are fine
      return;
    }
    const owner = dataDirOwner(dataDir);
    const uid = process.getuid?.() ?? -1;
    if (!owner || (uid !== 0 && uid !== owner.uid))
      return once(`the agent runs as uid ${uid}, the server as uid ${owner?.uid}: run the agent as the server's user`);
    let env: NodeJS.ProcessEnv;
    try {
      env = Object.fromEntries(
        readFileSync(`/proc/${server.pid}/environ`, 'latin1')
          .split('\0')
          .filter((kv) => kv.includes('='))
          .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
      );
    } catch (err) {
      return once(`the server's environment cannot be read (${(err as Error).message})`);
    }
    lastStart = Date.now();
    notBefore = lastStart + backoffMs;
    backoffMs = Math.min(backoffMs * 2, LONGEST_BACKOFF_MS);
    const child = spawn('/bin/sh', ['-c', commandLine], {
      cwd: dataDir,
      env: { ...env, [WARM_FOR_AGENT_ENV]: String(process.pid) },
      uid: uid === 0 ? owner.uid : undefined,
      gid: uid === 0 ? owner.gid : undefined,
      detached: true,
      stdio: 'ignore',
    });
    child.on('error', (err) => o.log.warn(`cannot start the resident archiver: ${err.message}`));
    child.unref();
    o.log.debug({ dataDir }, 'resident archiver started');
  };
  const timer = setInterval(() => void look().catch((err: unknown) => o.log.debug({ err }, 'archiver warmth')), LOOK_EVERY_MS);
  timer.unref();
  return {
    update(archiveCommand) {
      if (archiveCommand === null) return;
      const line = archiverCommandLine(archiveCommand);
      if (line === null) return once(`archive_command is not pitr's "… wal-push %p" (${archiveCommand.slice(0, 80)})`);
      if (line !== commandLine) {
        commandLine = line;
        void look();
      }
    },
    stop: () => clearInterval(timer),
  };
}
