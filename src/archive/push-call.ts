// One call of PostgreSQL's archive_command that reached Node: bin/pitr found no record of the
// resident archiver vouching for this file. Answers from a record the archiver wrote meanwhile,
// else pushes the file itself; then keeps the resident archiver going. Exit 0 (return) only
// once the file is durable.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import type { Call } from '../launcher/fingerprint.js';
import { archiverPidFile, prefetchRoot } from '../launcher/handoff.js';
import type { Config } from '../config/config.js';
import type { Logger } from '../log.js';
import { inOwnPgWal, resolveDataDir } from '../pg/data-dir.js';
import { openStorage } from '../storage/open.js';
import { ARCHIVER_COMMAND } from './archiver.js';
import { rememberArchivedInto } from './archived-into.js';
import { bestEffort } from './best-effort.js';
import { clearAllSpools } from './prefetch.js';
import { pushForm, pushWalFile } from './push.js';
import { awaitClaim, claim, markUsed, recordVouches, unclaim, writeRecord } from './records.js';
import { liveWorker, startWorker } from './workers.js';

const MESSAGES = {
  stored: 'archived',
  exists: 'already archived with identical content',
  repaired: 'archived, replacing an incomplete copy left by an interrupted push',
} as const;

export interface ArchiveCallOptions {
  config: Config;
  log: Logger;
  /** This process's call in the launcher's shape, or null (asked only for the server's own pg_wal). */
  ownCall: () => Call | null;
}

export async function archiveWalFile(path: string, { config, log, ownCall }: ArchiveCallOptions): Promise<void> {
  const started = performance.now();
  const dataDir = resolveDataDir(config);
  const name = basename(path);
  // archive_command runs once recovery is over: a prefetch spool left from it goes now.
  if (existsSync(prefetchRoot(dataDir))) await bestEffort(clearAllSpools(dataDir), undefined, 'removing the prefetch spool', log);

  // Look-ahead only for the server's own pg_wal, and for calls of the shape bin/pitr knows.
  const call = inOwnPgWal(dataDir, path) ? ownCall() : null;
  const fingerprint = call?.fingerprint;
  if (fingerprint) {
    const stored = async () => {
      await awaitClaim(dataDir, name, 30_000); // the archiver is storing it right now
      return recordVouches(dataDir, name, path, fingerprint);
    };
    if (await bestEffort(stored(), false, 'reading the look-ahead record', log)) {
      await bestEffort(markUsed(dataDir), undefined, 'marking the record used', log);
      log.info({ wal: name, ms: Math.round(performance.now() - started) }, 'archived earlier (look-ahead)');
      return;
    }
  }

  // Claimed, so that the archiver leaves this file to us; recorded, so that it skips it after.
  const claimed = fingerprint ? await bestEffort(claim(dataDir, name), false, 'claiming the file', log) : false;
  try {
    const storage = await openStorage(config);
    const result = await pushWalFile(path, { storage, ...pushForm(config), dataDir, identity: fingerprint !== undefined });
    if (result.boundRepository) log.info({ repo: storage.url }, 'repository bound to this cluster');
    // So that a bare mount point is never bound later (archived-into.ts).
    const remember = async () => rememberArchivedInto(dataDir, { id: result.repositoryId, url: storage.url });
    await bestEffort(remember(), undefined, 'noting the repository in the data directory (pitr.repositories)', log);
    if (fingerprint && result.identity) {
      const record = { fingerprint, identity: result.identity, checksum: result.payloadSha256, repositoryId: result.repositoryId };
      await bestEffort(writeRecord(dataDir, name, record), undefined, 'writing the look-ahead record', log);
    }
    log[result.status === 'repaired' ? 'warn' : 'info'](
      { wal: result.name, bytes: result.size, storedBytes: result.storedBytes, ms: Math.round(performance.now() - started) },
      MESSAGES[result.status],
    );
  } finally {
    if (claimed) await bestEffort(unclaim(dataDir, name), undefined, 'releasing the claim', log);
  }
  if (fingerprint && config.archiveLookahead > 0) {
    // One archiver at a time, whatever its configuration: one that is no longer wanted notices
    // its records going unused and stops, and the next call starts ours. Replacing it here
    // instead would make two pitr calls in one archive_command replace each other every time.
    const running = async () => (await liveWorker(archiverPidFile(dataDir), ARCHIVER_COMMAND)) !== null;
    if (!(await bestEffort(running(), true, 'looking for the archiver', log))) startWorker(ARCHIVER_COMMAND, [], call!.flags, dataDir);
  }
}
