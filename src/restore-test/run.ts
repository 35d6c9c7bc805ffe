// `pitr restore-test`: proves that a backup restores, the way it would be restored in anger,
// and measures how long that takes. The order is the safety argument:
//   1. a scratch directory of its own (PITR_RESTORE_TEST_DIR, default the system temp dir),
//      and room for the backup checked once the plan stands, before anything is written;
//   2. the restore of `pitr restore`, with archiving off (it never writes into the
//      repository), no TCP listener (its Unix socket in the scratch directory, trust only
//      there), on a port of its own: the production server is never touched;
//   3. the checks: PostgreSQL's pg_amcheck on every database, then each SQL file;
//   4. whatever happened, and on SIGINT/SIGTERM too: the server stopped and the directory removed.
// The run is recorded in the repository (restore-tests/last.json) for status on every host.
import { execa } from 'execa';
import { chown, mkdir, mkdtemp, readFile, rm, statfs, writeFile } from 'node:fs/promises';
import { hostname, tmpdir, userInfo } from 'node:os';
import { basename, join } from 'node:path';
import pg from 'pg';
import type { Config } from '../config/config.js';
import { InputError, PitrError } from '../errors.js';
import type { Logger } from '../log.js';
import { lookupUser } from '../os/user-account.js';
import { onInterrupt } from '../os/interrupt.js';
import { pgProgram } from '../pg/binaries.js';
import { readIdentity } from '../repository/identity.js';
import { lastTransactionEnd } from '../repository/last-transaction.js';
import { recordRestoreTest, type RestoreTestCheck, type RestoreTestRun } from '../repository/restore-test-results.js';
import { walInventory } from '../repository/wal-inventory.js';
import { restore } from '../restore/run.js';
import type { RestorePlan } from '../restore/plan.js';
import type { RecoveryTarget } from '../restore/target.js';
import type { Storage } from '../storage/storage.js';
import { hex8 } from '../wal/names.js';

export interface RestoreTestOptions {
  storage: Storage;
  config: Config;
  log: Logger;
  target: RecoveryTarget;
  /** SQL files of checks: every statement that returns rows must answer true in its first column. */
  sqlFiles: string[];
  /** The pitr the restored server runs as restore_command. */
  pitrPath: string;
  port: number;
}

export type RestoreTestReport = Omit<RestoreTestRun, 'format'>;

export async function runRestoreTest(o: RestoreTestOptions): Promise<RestoreTestReport> {
  const startedAt = new Date();
  const t0 = performance.now();
  const checks: RestoreTestCheck[] = [];
  const found: { plan?: RestorePlan; recoveredTo: string | null; rtoSeconds: number | null; rpoSeconds: number | null } = {
    recoveredTo: null,
    rtoSeconds: null,
    rpoSeconds: null,
  };
  let error: string | undefined;
  const scratch = await newScratch(o.config.restoreTest.dir);
  const cleanup = once(() => removeScratch(scratch, found.plan?.backup.pgVersion, o.log));
  const forget = onInterrupt(async (signal) => {
    o.log.warn({ signal }, 'restore test interrupted: stopping the throwaway server and removing its directory');
    await cleanup();
  });
  try {
    const report = await restore({
      storage: o.storage,
      config: o.config,
      log: o.log,
      targetDir: scratch.data,
      target: o.target,
      timeline: 'latest',
      action: 'promote',
      inclusive: true,
      force: false,
      start: true,
      port: o.port,
      archiveMode: 'off',
      localOnly: { socketDir: scratch.socket, hbaFile: scratch.hba },
      pitrPath: o.pitrPath,
      onPlanned: async (plan) => {
        found.plan = plan;
        await checkRoom(scratch.root, plan);
      },
    });
    const connection = { host: scratch.socket, port: o.port, user: scratch.user };
    await answering(connection);
    found.rtoSeconds = (performance.now() - t0) / 1000;
    found.recoveredTo = report.recovery?.lastTransaction ?? null;
    found.rpoSeconds = await achievedRpo(o.storage, report.plan, found.recoveredTo);
    checks.push(await amcheck(connection, report.plan.backup.pgVersion));
    for (const file of o.sqlFiles) checks.push(await sqlCheck(connection, file));
  } catch (err) {
    error = oneLine(err);
    o.log.debug({ err }, 'restore test failed');
  } finally {
    await cleanup();
    forget();
  }
  const run: RestoreTestReport = {
    startedAt: startedAt.toISOString(),
    finishedAt: new Date().toISOString(),
    result: error === undefined && checks.every((c) => c.passed) ? 'passed' : 'failed',
    host: hostname(),
    backup: found.plan?.backup.id ?? null,
    rtoSeconds: found.rtoSeconds,
    recoveredTo: found.recoveredTo,
    rpoSeconds: found.rpoSeconds,
    bytes: found.plan?.backup.files[0].size ?? 0,
    checks,
    ...(error !== undefined ? { error } : {}),
  };
  await recordRestoreTest(o.storage, run);
  return run;
}

interface Scratch {
  root: string;
  data: string;
  socket: string;
  hba: string;
  /** Whom the checks connect as: the database user, else the server's owner. */
  user: string;
}

/**
 * A new directory under `dir` (or the system temp dir): the data directory goes inside it,
 * with the server's socket directory and its pg_hba.conf (local trust only: the socket
 * directory is the owner's alone). Running as root, it belongs to the postgres account.
 */
async function newScratch(dir: string | undefined): Promise<Scratch> {
  const parent = dir ?? tmpdir();
  await mkdir(parent, { recursive: true }).catch((err: NodeJS.ErrnoException) => {
    throw new InputError(
      `cannot create the restore test directory ${parent} (${err.code}): set PITR_RESTORE_TEST_DIR to a writable directory`,
    );
  });
  const owner = process.getuid?.() === 0 ? await lookupUser('postgres') : null;
  if (process.getuid?.() === 0 && !owner)
    throw new InputError('running as root, restore-test needs a postgres account to run the throwaway server');
  const root = await mkdtemp(join(parent, 'pitr-restore-test-'));
  const socket = join(root, 'socket');
  const hba = join(root, 'pg_hba.conf');
  try {
    await mkdir(socket, { mode: 0o700 });
    await writeFile(hba, "# restore-test: the socket directory is the server owner's alone\nlocal all all trust\n", { mode: 0o600 });
    if (owner) for (const path of [root, socket, hba]) await chown(path, owner.uid, owner.gid);
  } catch (err) {
    // A full disk or a refused chown: nothing of the run may stay behind.
    await rm(root, { recursive: true, force: true });
    const why = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
    throw new InputError(`cannot prepare the restore test directory ${root} (${why}): free space or set PITR_RESTORE_TEST_DIR`, err);
  }
  return { root, data: join(root, 'data'), socket, hba, user: process.env.PGUSER || owner?.name || userInfo().username };
}

/** Refuses, before anything is written, a scratch disk without room for the backup and its WAL. */
async function checkRoom(dir: string, plan: RestorePlan): Promise<void> {
  const fs = await statfs(dir);
  const free = fs.bavail * fs.bsize;
  // The tar as restored, plus a margin, plus recovery's WAL: at most a few segments in pg_wal
  // and the prefetch spool at once (recycled as replay goes).
  const needed = Math.ceil(plan.backup.files[0].size * 1.1) + 32 * 16 * 1024 * 1024;
  if (free < needed)
    throw new InputError(
      `${dir} has ${mib(free)} MiB free, the restore test needs about ${mib(needed)} MiB (backup ${plan.backup.id}): free space or set PITR_RESTORE_TEST_DIR to a larger disk`,
    );
}

/** Waits until the promoted server answers a query through its socket. */
async function answering(connection: pg.ClientConfig): Promise<void> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const client = new pg.Client({ ...connection, database: 'postgres' });
    try {
      await client.connect();
      await client.query('SELECT 1');
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new InputError(`the restored server does not answer queries: ${(err as Error).message}`);
    } finally {
      await client.end().catch(() => undefined);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** How far the point recovered to is behind the last transaction archived on the timeline followed. */
async function achievedRpo(storage: Storage, plan: RestorePlan, recoveredTo: string | null): Promise<number | null> {
  if (recoveredTo === null) return null;
  const recovered = Date.parse(recoveredTo.replace(' ', 'T').replace(/([+-]\d\d)$/, '$1:00'));
  const segmentSize = (await readIdentity(storage))?.walSegmentSize ?? 16 * 1024 * 1024;
  const { segments } = await walInventory(storage, segmentSize);
  const timeline = hex8(plan.timeline);
  const newest =
    [...segments]
      .filter((n) => n.startsWith(timeline))
      .sort()
      .at(-1) ?? plan.lastSegment;
  const last = await lastTransactionEnd(storage, plan.backup, plan.history, newest, segmentSize);
  if (last.kind !== 'found' || Number.isNaN(recovered)) return null;
  return Math.max(0, (Date.parse(last.time) - recovered) / 1000);
}

/** pg_amcheck on every database: heap and B-tree indexes (the amcheck extension installed where missing: the copy is thrown away). */
async function amcheck(connection: { host: string; port: number; user: string }, pgVersion: number): Promise<RestoreTestCheck> {
  const res = await execa(
    pgProgram('pg_amcheck', pgVersion),
    ['-h', connection.host, '-p', String(connection.port), '-U', connection.user, '--all', '--install-missing', '--no-password'],
    { reject: false, env: { PGCONNECT_TIMEOUT: '10' } },
  );
  if (res.exitCode === 0)
    return { name: 'pg_amcheck --all', passed: true, detail: 'every table and B-tree index of every database is sound' };
  const said = `${res.stdout}\n${res.stderr}`.trim().split('\n').filter(Boolean);
  return { name: 'pg_amcheck --all', passed: false, detail: `exit ${res.exitCode}: ${said.slice(0, 3).join(' | ') || 'no output'}` };
}

/** One SQL file: every statement that returns rows must answer true in the first column of its first row. */
async function sqlCheck(connection: pg.ClientConfig, file: string): Promise<RestoreTestCheck> {
  const name = basename(file);
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    return { name, passed: false, detail: `cannot read ${file} (${(err as NodeJS.ErrnoException).code})` };
  }
  const client = new pg.Client({ ...connection, database: process.env.PGDATABASE || 'postgres' });
  try {
    await client.connect();
    const results = [(await client.query(text)) as pg.QueryResult | pg.QueryResult[]].flat();
    let checked = 0;
    for (const [i, r] of results.entries()) {
      if (r.fields.length === 0) continue; // SET, CREATE ...: nothing to judge
      checked++;
      const value = r.rows[0] ? Object.values(r.rows[0] as object)[0] : undefined;
      if (value !== true) return { name, passed: false, detail: `statement ${i + 1} answered ${JSON.stringify(value ?? null)}, not true` };
    }
    return { name, passed: true, detail: `${checked} statement(s) answered true` };
  } catch (err) {
    return { name, passed: false, detail: (err as Error).message };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** Stops the throwaway server (if it runs) and removes everything the run created. */
async function removeScratch(scratch: Scratch, pgVersion: number | undefined, log: Logger): Promise<void> {
  if (pgVersion !== undefined) {
    const owner = process.getuid?.() === 0 ? await lookupUser('postgres') : null;
    await execa(pgProgram('pg_ctl', pgVersion), ['-D', scratch.data, '-m', 'immediate', '-w', 'stop'], {
      reject: false,
      ...(owner ? { uid: owner.uid, gid: owner.gid } : {}),
    });
  }
  await rm(scratch.root, { recursive: true, force: true }).catch((err: Error) =>
    log.error({ err: err.message, dir: scratch.root }, 'could not remove the restore test directory: remove it by hand'),
  );
}

function once(f: () => Promise<void>): () => Promise<void> {
  let done: Promise<void> | null = null;
  return () => (done ??= f());
}

function oneLine(err: unknown): string {
  const message = err instanceof PitrError ? err.message : `unexpected: ${(err as Error).message}`;
  return message.split('\n')[0]!;
}

const mib = (bytes: number) => (bytes / 1048576).toFixed(0);
