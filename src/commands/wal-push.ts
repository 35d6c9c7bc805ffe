// `pitr wal-push <path>`: PostgreSQL's archive_command. Exit 0 only once the file is durable.
// bin/pitr answers most calls itself from the resident archiver's records; this is the call
// that reaches Node: no record, or one that does not vouch for this file.
import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { ARCHIVER_COMMAND, archiverPidFile } from '../archive/archiver.js';
import { rememberArchivedInto } from '../archive/archived-into.js';
import { bestEffort } from '../archive/best-effort.js';
import { clearAllSpools } from '../archive/prefetch.js';
import { prefetchRoot } from '../launcher/handoff.js';
import { pushWalFile } from '../archive/push.js';
import { awaitClaim, claim, markUsed, recordVouches, unclaim, writeRecord } from '../archive/records.js';
import { liveWorker, startWorker } from '../archive/workers.js';
import type { CommandContext } from '../cli/context.js';
import { ownCall } from '../launcher/fingerprint.js';
import { inOwnPgWal, resolveDataDir } from '../pg/data-dir.js';
import { openStorage } from '../storage/open.js';

const MESSAGES = {
  stored: 'archived',
  exists: 'already archived with identical content',
  repaired: 'archived, replacing an incomplete copy left by an interrupted push',
} as const;

export async function walPushCommand({ config, log }: CommandContext, path: string): Promise<void> {
  const started = performance.now();
  const dataDir = resolveDataDir(config);
  const name = basename(path);
  // archive_command runs once recovery is over: a prefetch spool left from it goes now.
  if (existsSync(prefetchRoot(dataDir))) await bestEffort(clearAllSpools(dataDir), undefined, 'removing the prefetch spool', log);

  // Look-ahead only for the server's own pg_wal, and for calls of the shape bin/pitr knows.
  const call = inOwnPgWal(dataDir, path) ? ownCall('wal-push') : null;
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
    const result = await pushWalFile(path, { storage, compression: config.compress, dataDir, identity: fingerprint !== undefined });
    if (result.boundRepository) log.info({ repo: storage.url }, 'repository bound to this cluster');
    // So that a bare mount point is never bound later (archive/archived-into.ts).
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
