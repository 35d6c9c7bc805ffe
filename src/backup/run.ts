// Takes one base backup into the repository. The order is the safety argument:
//   1. the server is the repository's cluster, archives WAL, and has no extra tablespaces;
//   2. one backup at a time (lock);
//   3. pg_basebackup's tar streams through compress -> [encrypt] -> measure into the store,
//      never staged on local disk, memory bounded by the chunk and part sizes;
//   4. pg_basebackup must exit 0, and the WAL from start to stop LSN must be archived;
//   5. only then the manifest is written: until it exists the backup is invisible.
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { waitUntil } from '../os/wait-until.js';
import { readArchivedFile } from '../repository/archived-file.js';
import type { Measure } from '../codec/measure.js';
import { sealingStages } from '../codec/pipeline.js';
import type { Config } from '../config/config.js';
import { InputError, PitrError, StorageError } from '../errors.js';
import type { Logger } from '../log.js';
import { pgProgram } from '../pg/binaries.js';
import { IDENTITY_COLUMNS, identityFromRow, type IdentityRow } from '../pg/cluster-identity.js';
import { childConnection, newClient, serverConnection, type DbConnection } from '../pg/connection.js';
import { assertSameCluster, assertSameRecipients, bindIdentity, readIdentity, type ClusterIdentity } from '../repository/identity.js';
import { walLogPrefix } from '../repository/layout.js';
import { findUnusableWal } from '../repository/wal-completeness.js';
import type { Storage } from '../storage/storage.js';
import { sweepAbandonedWrites } from '../storage/sweep.js';
import { VERSION } from '../version.js';
import { formatLsn, hex8, parseLsn } from '../wal/names.js';
import { requiredSegments, segmentFileName, segmentNumber } from '../wal/segments.js';
import { rootHistory } from '../wal/timeline-history.js';
import { labelTime, parseLabelText, walLocation } from './label.js';
import { acquireBackupLock } from '../repository/backup-lock.js';
import { onInterrupt } from '../os/interrupt.js';
import { BACKUP_PREFIX, backupDir, writeManifest, type BackupManifest } from '../repository/backups.js';

export interface BackupOptions {
  storage: Storage;
  config: Config;
  log: Logger;
  /** Called as bytes flow: uncompressed bytes sent so far, and pg_basebackup's estimate of the total. */
  onProgress?: (bytes: number, total: number) => void;
}

interface ServerFacts extends ClusterIdentity {
  estimateBytes: number;
  timeline: number;
  /** The WAL position before the backup starts: its .backup file is archived after it. */
  walPosition: bigint;
}

export async function takeBackup({ storage, config, log, onProgress }: BackupOptions): Promise<BackupManifest> {
  const connection = serverConnection(config);
  const server = await inspectServer(connection);
  const identity = await readIdentity(storage);
  if (identity) assertSameCluster(identity, server, storage, 'the database server');
  assertSameRecipients(
    identity ?? (await bindIdentity(storage, server, VERSION, 'the database server', config.recipients)).identity,
    config.recipients,
    storage,
  );

  const started = new Date();
  // Measured on the monotonic clock: a wall clock stepped back during the backup must not make it negative.
  const startedAt = performance.now();
  const id = `${started
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${randomBytes(2).toString('hex')}`;
  const label = `pitr ${id}`;
  const lock = await acquireBackupLock(storage, id);
  // Stopped by a signal (the agent stopping, a person's Ctrl-C): the lock goes at once, so that
  // a backup from another host need not wait for it to go stale. What was written is no backup:
  // no manifest names it, and the next backup removes it.
  const forgetInterrupt = onInterrupt(() => lock.release().catch(() => undefined));
  try {
    // Under the lock, no other backup writes here: what killed backups left can go.
    await sweepAbandonedWrites(storage, BACKUP_PREFIX, log);
    const dataKey = `${backupDir(id)}base.tar${config.compress === 'lz4' ? '.lz4' : ''}${config.recipients ? '.age' : ''}`;
    log.info({ backup: id, estimateBytes: server.estimateBytes }, 'backup started');
    return await completeOrRemove(storage, dataKey, log, async () => {
      const stream = await streamBaseBackup({
        storage,
        config,
        connection,
        dataKey,
        label,
        pgMajor: server.pgVersion,
        onProgress: (b, total) => onProgress?.(b, total),
      });

      const xminAfterStop = await oldestRunningXid(connection, log);
      const { start, stop, timeline, startTime, stopTime } = await waitForBackupWal(storage, {
        label,
        timeline: server.timeline,
        from: server.walPosition,
        segmentSize: server.walSegmentSize,
        timeoutMs: config.backupWalTimeoutMs,
        log,
      });
      const finished = new Date();

      const manifest: BackupManifest = {
        format: 1,
        id,
        label,
        pitrVersion: VERSION,
        systemIdentifier: server.systemIdentifier,
        pgVersion: server.pgVersion,
        timeline,
        startLsn: formatLsn(start.lsn),
        stopLsn: formatLsn(stop.lsn),
        startWal: start.wal,
        stopWal: stop.wal,
        startTime: (startTime ?? started).toISOString(),
        // Never earlier than the real stop: a restore target is checked against it. The label's
        // STOP TIME is cut to whole seconds, so the real stop lies within the second after it;
        // our own clock after the WAL wait is late too; the earlier of the two is the tightest.
        stopTime: new Date(Math.min(stopTime ? stopTime.getTime() + 999 : Infinity, finished.getTime())).toISOString(),
        durationMs: Math.round(performance.now() - startedAt),
        ...(xminAfterStop ? { xminAfterStop } : {}),
        files: [
          {
            key: dataKey,
            name: 'base.tar',
            compression: config.compress,
            ...(config.recipients ? { encryption: 'age' as const } : {}),
            size: stream.tarBytes,
            storedSize: stream.stored.bytes,
            storedSha256: stream.stored.digest(),
          },
        ],
      };
      await writeManifest(storage, manifest);
      return manifest;
    });
  } finally {
    forgetInterrupt();
    await lock.release().catch((err) => log.warn({ err }, 'could not release the backup lock; the next backup will take it over'));
  }
}

/**
 * Runs the steps from the upload to the manifest. Without a manifest the backup is invisible
 * whatever failed (pg_basebackup, the upload, the WAL wait, the manifest write), so its data
 * object is removed too rather than left to take space that nothing would ever reclaim.
 */
async function completeOrRemove<T>(storage: Storage, dataKey: string, log: Logger, steps: () => Promise<T>): Promise<T> {
  try {
    return await steps();
  } catch (err) {
    await storage
      .delete(dataKey)
      .catch((e: Error) => log.warn({ key: dataKey, err: e.message }, 'could not remove the data of the failed backup; remove it by hand'));
    throw err;
  }
}

/** See BackupManifest.xminAfterStop. Best effort: a restore without it picks the newest backup. */
async function oldestRunningXid(connection: DbConnection, log: Logger): Promise<string | undefined> {
  const client = await newClient(connection);
  try {
    await client.connect();
    const { rows } = await client.query<{ xmin: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin');
    return rows[0]?.xmin;
  } catch (err) {
    log.warn(
      { err: (err as Error).message },
      'could not read the oldest running transaction; --xid restores will start from the newest backup',
    );
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function inspectServer(connection: DbConnection): Promise<ServerFacts> {
  const client = await newClient(connection);
  try {
    await client.connect();
  } catch (err) {
    throw new InputError(
      `cannot connect to the database (${(err as Error).message}): set PGHOST/PGPORT/PGUSER or --db-url, or PGDATA (--pgdata) to the running cluster's data directory`,
      err,
    );
  }
  try {
    const { rows } = await client.query<IdentityRow & Record<string, string>>(`
      SELECT ${IDENTITY_COLUMNS},
             current_setting('archive_mode') AS archive_mode,
             (SELECT string_agg(spcname, ', ') FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')) AS tablespaces,
             (SELECT sum(pg_database_size(oid)) FROM pg_database)::text AS estimate,
             pg_is_in_recovery()::text AS standby,
             (SELECT timeline_id FROM pg_control_checkpoint())::text AS timeline,
             CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_lsn()::text END AS lsn`);
    const row = rows[0]!;
    if (row.archive_mode === 'off') {
      throw new InputError(
        "archive_mode is off: a backup without archived WAL can never be restored; set archive_mode = on and archive_command = 'pitr wal-push %p'",
      );
    }
    if (row.standby === 'true') {
      throw new InputError(
        'the server is a standby: take backups from the primary (pitr finds each backup by the history file the primary archives)',
      );
    }
    if (row.tablespaces) {
      throw new InputError(
        `tablespaces ${row.tablespaces} are not supported yet: pitr backs up clusters with only the default tablespaces`,
      );
    }
    return {
      ...identityFromRow(row),
      estimateBytes: Number(row.estimate ?? 0),
      timeline: Number(row.timeline),
      walPosition: parseLsn(row.lsn!)!,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function streamBaseBackup(args: {
  storage: Storage;
  config: Config;
  connection: DbConnection;
  dataKey: string;
  label: string;
  pgMajor: number;
  onProgress: (bytes: number, total: number) => void;
}): Promise<{ tarBytes: number; stored: Measure }> {
  const { execa } = await import('execa');
  const conn = childConnection(args.connection);
  const program = pgProgram('pg_basebackup', args.pgMajor);
  // -X none: the WAL comes from the archive, which the backup waits for below.
  // --compress=client-lz4: pg_basebackup compresses in C into one standard LZ4 frame stream
  // (lz4-napi has no streaming codec, and its buffers are not released on long streams).
  // -P: progress on stderr, the only count of uncompressed bytes this process sees.
  const compress = args.config.compress === 'lz4' ? ['--compress=client-lz4'] : [];
  // Made before the child starts: once it runs, its output must find the pipeline in place
  // (building the encrypt stage loads a module, and bytes flowing meanwhile would be lost).
  const { stages, stored } = await sealingStages({ recipients: args.config.recipients });
  const child = execa(
    program,
    ['-D', '-', '-F', 't', '-X', 'none', '-c', 'fast', '-P', '-l', args.label, '--no-password', ...compress, ...conn.args],
    {
      env: { ...conn.env, LC_ALL: 'C' }, // untranslated messages: the progress and errors are parsed
      stdout: 'pipe',
      stderr: 'pipe',
      reject: false,
      buffer: { stdout: false, stderr: false },
    },
  );
  const progress = new BasebackupProgress(args.onProgress);
  child.stderr!.setEncoding('utf8').on('data', (text: string) => progress.feed(text));
  const body = new PassThrough();
  const flowing = pipeline([child.stdout!, ...stages, body]);
  const upload = args.storage.putStream(args.dataKey, body);
  // A failed upload stops reading `body`: without this the pipeline, and pg_basebackup
  // blocked on its full stdout pipe, would wait forever. A failed stream stops the child.
  upload.catch((err: Error) => {
    body.destroy(err);
    child.kill();
  });
  flowing.catch(() => child.kill());
  const [flowResult, uploadResult, result] = await Promise.allSettled([flowing, upload, child]);
  const exit = result.status === 'fulfilled' ? result.value : undefined;
  // The root cause first: a failed upload or stream also makes pg_basebackup fail.
  if (uploadResult.status === 'rejected') throw asPitrError(uploadResult.reason, 'upload of the backup');
  if (flowResult.status === 'rejected') throw asPitrError(flowResult.reason, 'backup stream');
  if (!exit || exit.exitCode !== 0) {
    const why =
      exit?.failed && exit.code === 'ENOENT'
        ? `${program} not found: install the PostgreSQL client or set PITR_PG_BINDIR`
        : progress.lastError() || `exit ${exit?.exitCode}`;
    throw new InputError(`pg_basebackup failed: ${why}`);
  }
  return { tarBytes: progress.doneBytes, stored };
}

/** Reads pg_basebackup's stderr: "12345/67890 kB (18%), 0/1 tablespace" progress, and its last error line. */
class BasebackupProgress {
  doneBytes = 0;
  private tail = '';

  constructor(private readonly onProgress: (bytes: number, total: number) => void) {}

  feed(text: string): void {
    this.tail = (this.tail + text).slice(-4096);
    for (const m of text.matchAll(/(\d+)\/(\d+) kB/g)) {
      this.doneBytes = Number(m[1]) * 1024;
      this.onProgress(this.doneBytes, Number(m[2]) * 1024);
    }
  }

  lastError(): string {
    const lines = this.tail
      .split(/[\r\n]+/)
      .map((l) => l.trim())
      .filter((l) => l && !/ kB \(\d+%\)/.test(l));
    return (lines.at(-1) ?? '').replace(/^pg_basebackup: (error: )?/, '');
  }
}

function asPitrError(err: unknown, what: string): PitrError {
  return err instanceof PitrError ? err : new StorageError(`${what} failed: ${(err as Error).message}`, err);
}

/**
 * Waits for the backup history file (.backup) of this backup, found by its label among those
 * archived since `from` on `timeline`, and for every segment from its start to its stop:
 * until then the backup cannot be restored. The history file also gives the start and stop
 * LSN and times, so nothing needs to read the compressed tar.
 */
async function waitForBackupWal(
  storage: Storage,
  args: { label: string; timeline: number; from: bigint; segmentSize: number; timeoutMs: number; log: Logger },
): Promise<{
  start: { lsn: bigint; wal: string };
  stop: { lsn: bigint; wal: string };
  timeline: number;
  startTime: Date | null;
  stopTime: Date | null;
}> {
  const { label, segmentSize, timeoutMs, log } = args;
  const deadline = performance.now() + timeoutMs;
  const poll = async <T>(what: string, check: () => Promise<T | null>): Promise<T> => {
    const remaining = Math.max(0, deadline - performance.now());
    const value = await waitUntil(check, {
      timeoutMs: remaining,
      everyMs: 250,
      onWait: () => log.info(`waiting for ${what} to be archived`),
    });
    if (value !== null) return value;
    throw new InputError(
      `${what} was not archived within ${timeoutMs / 1000} s: check archive_command and "pitr status"; this backup is not usable until it is`,
    );
  };
  const fromSegment = segmentFileName(args.timeline, segmentNumber(args.from, segmentSize), segmentSize);
  const fields = await poll(`the backup history file (.backup) of "${label}"`, () => findBackupHistory(storage, label, fromSegment));
  const start = walLocation(fields, 'START WAL LOCATION', `backup history of "${label}"`);
  const stop = walLocation(fields, 'STOP WAL LOCATION', `backup history of "${label}"`);
  const timeline = Number(fields.get('START TIMELINE') ?? args.timeline);
  // Each segment is read, not just looked up by name: part of a killed push's upload may
  // stand under its real name on some S3-compatible stores (repository/wal-completeness.ts).
  // A segment counts once it is whole, and a whole object stays whole: it is not read again.
  const pending = new Set(requiredSegments(rootHistory(timeline), start.lsn, stop.lsn, segmentSize));
  await poll(`WAL up to ${stop.wal}`, async () => {
    const problems = await findUnusableWal(storage, pending);
    for (const name of pending) if (!problems.has(name)) pending.delete(name);
    return pending.size === 0 ? true : null;
  });
  return { start, stop, timeline, startTime: labelTime(fields, 'START TIME'), stopTime: labelTime(fields, 'STOP TIME') };
}

/**
 * The fields of the .backup file labelled `label`, looked for in the log directories of
 * `fromSegment` and the next one (a backup's start lies just after the WAL position read
 * before it began), or null while it is not archived.
 */
async function findBackupHistory(storage: Storage, label: string, fromSegment: string): Promise<Map<string, string> | null> {
  const tli = fromSegment.slice(0, 8);
  const log = parseInt(fromSegment.slice(8, 16), 16);
  for (const l of [log, log + 1]) {
    const dir = walLogPrefix(tli, hex8(l));
    const { objects } = await storage.list(dir);
    const listed = objects.filter((o) => o.key.endsWith('.backup') && o.key.slice(dir.length, dir.length + 24) >= fromSegment);
    // One cut off by an interrupted push is not archived yet (PostgreSQL pushes it again).
    const problems = await findUnusableWal(storage, listed);
    const candidates = listed.map((o) => o.key.slice(dir.length)).filter((n) => !problems.has(n));
    for (const name of candidates.sort().reverse()) {
      const text = await readArchivedFile(storage, name);
      const fields = text ? parseLabelText(text.toString('utf8')) : null;
      if (fields?.get('LABEL') === label) return fields;
    }
  }
  return null;
}
