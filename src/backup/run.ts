// Takes one base backup into the repository. The order is the safety argument:
//   1. the server is the repository's cluster, archives WAL, and has no extra tablespaces;
//   2. one backup at a time (lock);
//   3. pg_basebackup's tar streams through measure -> compress -> measure into the store,
//      never staged on local disk, memory bounded by the chunk and part sizes;
//   4. pg_basebackup must exit 0, and the WAL from start to stop LSN must be archived;
//   5. only then the manifest is written: until it exists the backup is invisible.
import { randomBytes } from 'node:crypto';
import { PassThrough } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { readArchivedFile } from '../archive/read.js';
import { Lz4ChunkCompressor } from '../codec/lz4-stream.js';
import { Measure } from '../codec/measure.js';
import type { Config } from '../config/config.js';
import { InputError, PitrError, StorageError } from '../errors.js';
import type { Logger } from '../log.js';
import { childConnection, pgProgram } from '../pg/binaries.js';
import { assertSameCluster, bindIdentity, readIdentity, type ClusterIdentity } from '../repository/identity.js';
import { walObjectKey } from '../repository/layout.js';
import type { Storage } from '../storage/storage.js';
import { VERSION } from '../version.js';
import { formatLsn, parseWalFileName } from '../wal/names.js';
import { requiredSegments } from '../wal/segments.js';
import { rootHistory } from '../wal/timeline-history.js';
import { labelTime, parseLabelText, walLocation } from './label.js';
import { acquireBackupLock } from './lock.js';
import { backupDir, writeManifest, type BackupManifest } from './manifest.js';
import { BackupLabelTap } from './tar-label.js';

export interface BackupOptions {
  storage: Storage;
  config: Config;
  log: Logger;
  /** Called as bytes flow: bytes read from pg_basebackup, and the database size estimate. */
  onProgress?: (bytes: number, estimate: number) => void;
}

interface ServerFacts extends ClusterIdentity {
  estimateBytes: number;
}

export async function takeBackup({ storage, config, log, onProgress }: BackupOptions): Promise<BackupManifest> {
  const server = await inspectServer(config.dbUrl);
  const identity = await readIdentity(storage);
  if (identity) assertSameCluster(identity, server, storage, 'the database server');
  else await bindIdentity(storage, server, VERSION, 'the database server');

  const started = new Date();
  const id = `${started.toISOString().replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z')}-${randomBytes(2).toString('hex')}`;
  const label = `pitr ${id}`;
  const lock = await acquireBackupLock(storage, id);
  try {
    const dataKey = `${backupDir(id)}base.tar.lz4`;
    log.info({ backup: id, estimateBytes: server.estimateBytes }, 'backup started');
    const stream = await streamBaseBackup({ storage, config, dataKey, label, pgMajor: server.pgVersion, onProgress: (b) => onProgress?.(b, server.estimateBytes) });

    const xminAfterStop = await oldestRunningXid(config.dbUrl, log);
    const fields = parseLabelText(stream.labelText);
    const start = walLocation(fields, 'START WAL LOCATION', 'backup_label');
    const timeline = Number(fields.get('START TIMELINE'));
    const stop = await waitForBackupWal(storage, start, timeline, server.walSegmentSize, config.backupWalTimeoutMs, log);
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
      startTime: (labelTime(fields, 'START TIME') ?? started).toISOString(),
      // Never earlier than the real stop: a restore target is checked against it. The label's
      // STOP TIME is cut to whole seconds, so the real stop lies within the second after it;
      // our own clock after the WAL wait is late too; the earlier of the two is the tightest.
      stopTime: new Date(Math.min(stop.time ? stop.time.getTime() + 999 : Infinity, finished.getTime())).toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      ...(xminAfterStop ? { xminAfterStop } : {}),
      files: [
        {
          key: dataKey,
          name: 'base.tar',
          compression: 'lz4-chunked',
          size: stream.raw.bytes,
          sha256: stream.raw.digest(),
          storedSize: stream.stored.bytes,
          storedSha256: stream.stored.digest(),
        },
      ],
    };
    await writeManifest(storage, manifest);
    return manifest;
  } finally {
    await lock.release().catch((err) => log.warn({ err }, 'could not release the backup lock; the next backup will take it over'));
  }
}

async function connect(dbUrl: string | undefined) {
  const { default: pg } = await import('pg');
  return new pg.Client(dbUrl ? { connectionString: dbUrl } : {});
}

/** See BackupManifest.xminAfterStop. Best effort: a restore without it picks the newest backup. */
async function oldestRunningXid(dbUrl: string | undefined, log: Logger): Promise<string | undefined> {
  const client = await connect(dbUrl);
  try {
    await client.connect();
    const { rows } = await client.query<{ xmin: string }>('SELECT pg_snapshot_xmin(pg_current_snapshot())::text AS xmin');
    return rows[0]?.xmin;
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'could not read the oldest running transaction; --xid restores will start from the newest backup');
    return undefined;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function inspectServer(dbUrl: string | undefined): Promise<ServerFacts> {
  const client = await connect(dbUrl);
  try {
    await client.connect();
  } catch (err) {
    throw new InputError(`cannot connect to the database (${(err as Error).message}): set PGHOST/PGPORT/PGUSER or --db-url`, err);
  }
  try {
    const { rows } = await client.query<Record<string, string>>(`
      SELECT (SELECT system_identifier FROM pg_control_system())::text AS sysid,
             current_setting('server_version_num') AS version,
             (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS segsize,
             current_setting('archive_mode') AS archive_mode,
             (SELECT string_agg(spcname, ', ') FROM pg_tablespace WHERE spcname NOT IN ('pg_default', 'pg_global')) AS tablespaces,
             (SELECT sum(pg_database_size(oid)) FROM pg_database)::text AS estimate`);
    const row = rows[0]!;
    if (row.archive_mode === 'off') {
      throw new InputError('archive_mode is off: a backup without archived WAL can never be restored; set archive_mode = on and archive_command = \'pitr wal-push %p\'');
    }
    if (row.tablespaces) {
      throw new InputError(`tablespaces ${row.tablespaces} are not supported yet: pitr backs up clusters with only the default tablespaces`);
    }
    return {
      systemIdentifier: row.sysid!,
      pgVersion: Math.floor(Number(row.version) / 10000),
      walSegmentSize: Number(row.segsize),
      estimateBytes: Number(row.estimate ?? 0),
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function streamBaseBackup(args: {
  storage: Storage;
  config: Config;
  dataKey: string;
  label: string;
  pgMajor: number;
  onProgress: (bytes: number) => void;
}): Promise<{ labelText: string; raw: Measure; stored: Measure }> {
  const { execa } = await import('execa');
  const conn = childConnection(args.config.dbUrl);
  const program = pgProgram('pg_basebackup', args.pgMajor);
  // -X none: the WAL comes from the archive, which the backup waits for below.
  const child = execa(program, ['-D', '-', '-F', 't', '-X', 'none', '-c', 'fast', '-l', args.label, '--no-password', ...conn.args], {
    env: conn.env,
    stdout: 'pipe',
    stderr: 'pipe',
    reject: false,
    buffer: { stdout: false, stderr: true },
  });
  const tap = new BackupLabelTap();
  const raw = new Measure(args.onProgress);
  const stored = new Measure();
  const body = new PassThrough();
  const flowing = pipeline(child.stdout!, tap, raw, new Lz4ChunkCompressor(), stored, body);
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
  try {
    // The root cause first: a failed upload or stream also makes pg_basebackup fail.
    if (uploadResult.status === 'rejected') throw asPitrError(uploadResult.reason, 'upload of the backup');
    if (flowResult.status === 'rejected') throw asPitrError(flowResult.reason, 'backup stream');
    if (!exit || exit.exitCode !== 0) {
      const stderr = String(exit?.stderr ?? '').trim().split('\n').at(-1) ?? '';
      const why = exit?.failed && exit.code === 'ENOENT' ? `${program} not found: install the PostgreSQL client or set PITR_PG_BINDIR` : stderr || `exit ${exit?.exitCode}`;
      throw new InputError(`pg_basebackup failed: ${why}`);
    }
  } catch (err) {
    // No manifest is written, so the backup is invisible already; remove its bytes too.
    await args.storage.delete(args.dataKey).catch(() => undefined);
    throw err;
  }
  return { labelText: await tap.label, raw, stored };
}

function asPitrError(err: unknown, what: string): PitrError {
  return err instanceof PitrError ? err : new StorageError(`${what} failed: ${(err as Error).message}`, err);
}

/**
 * Waits for the .backup file (it carries the stop LSN and time) and every segment from start
 * to stop to be archived: until then the backup cannot be restored.
 */
async function waitForBackupWal(
  storage: Storage,
  start: { lsn: bigint; wal: string },
  timeline: number,
  segmentSize: number,
  timeoutMs: number,
  log: Logger,
): Promise<{ lsn: bigint; wal: string; time: Date | null }> {
  const offset = (start.lsn % BigInt(segmentSize)).toString(16).toUpperCase().padStart(8, '0');
  const historyName = `${start.wal}.${offset}.backup`;
  const deadline = Date.now() + timeoutMs;
  const poll = async <T>(what: string, check: () => Promise<T | null>): Promise<T> => {
    for (let logged = false; ; ) {
      const value = await check();
      if (value !== null) return value;
      if (Date.now() > deadline) {
        throw new InputError(`${what} was not archived within ${timeoutMs / 1000} s: check archive_command and "pitr status"; this backup is not usable until it is`);
      }
      if (!logged) log.info(`waiting for ${what} to be archived`);
      logged = true;
      await new Promise((r) => setTimeout(r, 250));
    }
  };
  const historyText = await poll(`backup history file ${historyName}`, () => readArchivedFile(storage, historyName));
  const fields = parseLabelText(historyText.toString('utf8'));
  const stop = walLocation(fields, 'STOP WAL LOCATION', historyName);
  const needed = requiredSegments(rootHistory(timeline), start.lsn, stop.lsn, segmentSize);
  await poll(`WAL up to ${stop.wal}`, async () => {
    for (const name of needed) {
      if (!(await storage.getHead(walObjectKey(parseWalFileName(name)!), 1))) return null;
    }
    return true;
  });
  return { ...stop, time: labelTime(fields, 'STOP TIME') };
}
