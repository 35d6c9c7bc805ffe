// `pitr check`: the set-up checked end to end, step by step, stopping at the first that fails:
//   database   the server answers (--db-url, libpq's variables, else the server in PGDATA)
//   settings   archive_mode on (or always), archive_command runs `pitr wal-push %p`, no archive_library
//   repository reachable, of this cluster, writable: a small object written under check/, read back, removed
//   archiving  a forced WAL switch (after a tiny write, so there is something to switch) is
//              archived within the timeout: pg_stat_archiver's last_archived_wal reaches it, and
//              its object is in the repository
// Each failure names the step and what to do.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Client } from 'pg';
import type { Config } from '../config/config.js';
import { formatDuration } from '../config/duration.js';
import { PitrError } from '../errors.js';
import { connectWithin, serverConnection } from '../pg/connection.js';
import { readIdentity } from '../repository/identity.js';
import { walObjectKey } from '../repository/layout.js';
import type { Storage } from '../storage/storage.js';
import { parseWalFileName } from '../wal/names.js';

export const CHECK_PREFIX = 'check/';

export type CheckStep = 'database' | 'settings' | 'repository' | 'archiving';

export interface StepResult {
  step: CheckStep;
  ok: boolean;
  detail: string;
}

export class CheckFailure extends Error {
  constructor(
    readonly step: CheckStep,
    message: string,
  ) {
    super(message);
  }
}

export interface CheckInputs {
  config: Pick<Config, 'dbUrl' | 'pgdata'>;
  storage: Storage;
  timeoutMs: number;
  /** Called as each step passes or fails. */
  onStep: (result: StepResult) => void;
  pollMs?: number;
}

const CONNECT_TIMEOUT_MS = 10_000;

/** Runs every step in order; true when all passed (each reported through onStep). */
export async function runCheck(inputs: CheckInputs): Promise<boolean> {
  let client: Client | undefined;
  let step: CheckStep = 'database';
  try {
    client = await connect(inputs.config);
    const server = await client.query<{ version: string; sysid: string; recovery: boolean }>(
      `SELECT current_setting('server_version') AS version, (SELECT system_identifier FROM pg_control_system())::text AS sysid,
              pg_is_in_recovery() AS recovery`,
    );
    const { version, sysid, recovery } = server.rows[0]!;
    inputs.onStep({
      step,
      ok: true,
      detail: `reachable: PostgreSQL ${version}, cluster ${sysid}${recovery ? ', in recovery (a standby)' : ''}`,
    });

    step = 'settings';
    inputs.onStep({ step, ok: true, detail: await checkSettings(client, recovery) });

    step = 'repository';
    inputs.onStep({ step, ok: true, detail: await checkRepository(inputs.storage, sysid) });

    step = 'archiving';
    if (recovery)
      throw new CheckFailure(
        step,
        'the database is in recovery (a standby): a WAL switch cannot be forced here; run pitr check against the primary',
      );
    inputs.onStep({ step, ok: true, detail: await checkArchiving(client, inputs) });
    return true;
  } catch (err) {
    if (err instanceof CheckFailure) inputs.onStep({ step: err.step, ok: false, detail: err.message });
    else if (err instanceof PitrError || isPgError(err)) inputs.onStep({ step, ok: false, detail: (err as Error).message });
    else throw err;
    return false;
  } finally {
    await client?.end().catch(() => undefined);
  }
}

function isPgError(err: unknown): boolean {
  return err instanceof Error && 'severity' in err;
}

async function connect(config: CheckInputs['config']): Promise<Client> {
  try {
    return await connectWithin(serverConnection(config), CONNECT_TIMEOUT_MS);
  } catch (err) {
    throw new CheckFailure(
      'database',
      `cannot connect to the database (${(err as Error).message || String(err)}): set --db-url, PGHOST/PGPORT/PGUSER (libpq), or PGDATA to the running cluster's data directory`,
    );
  }
}

async function checkSettings(client: Client, recovery: boolean): Promise<string> {
  const { rows } = await client.query<{ name: string; setting: string }>(
    `SELECT name, setting FROM pg_settings WHERE name IN ('archive_mode', 'archive_command', 'archive_library', 'wal_level')`,
  );
  const s = Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  const mode = s.archive_mode ?? 'off';
  if (mode === 'off')
    throw new CheckFailure(
      'settings',
      'archive_mode is off: set archive_mode = on in postgresql.conf and restart PostgreSQL (the lines "pitr init" prints)',
    );
  if (recovery && mode !== 'always')
    throw new CheckFailure('settings', `archive_mode is ${mode} on a standby, which archives nothing: run pitr check against the primary`);
  if (s.wal_level === 'minimal')
    throw new CheckFailure('settings', 'wal_level is minimal, which archiving cannot use: set wal_level = replica and restart PostgreSQL');
  if (s.archive_library)
    throw new CheckFailure(
      'settings',
      `archive_library is set (${s.archive_library}), so archive_command is not used: set archive_library = '' and reload PostgreSQL`,
    );
  const command = s.archive_command ?? '';
  if (!/\bwal-push\b/.test(command) || !command.includes('%p') || !/pitr/.test(command))
    throw new CheckFailure(
      'settings',
      `archive_command is ${command === '' ? 'empty' : `'${command}'`}, which does not run "pitr wal-push %p": set it to the line "pitr init" prints and reload PostgreSQL (SELECT pg_reload_conf())`,
    );
  return `archive_mode = ${mode}, archive_command = '${command}'`;
}

async function checkRepository(storage: Storage, sysid: string): Promise<string> {
  const step = 'repository';
  const fail = (what: string, err: unknown) =>
    new CheckFailure(
      step,
      `repository ${storage.url}: ${what} failed (${(err as Error).message}): check the URL, that the store is up, and its credentials and permissions`,
    );
  let identity;
  try {
    identity = await readIdentity(storage);
  } catch (err) {
    if (err instanceof PitrError && err.exitCode === 3) throw new CheckFailure(step, err.message);
    throw fail('reading repository.json', err);
  }
  if (identity && identity.systemIdentifier !== sysid)
    throw new CheckFailure(
      step,
      `repository ${storage.url} belongs to cluster ${identity.systemIdentifier}, not to this database's ${sysid}: point PITR_REPO at this cluster's repository`,
    );
  const key = `${CHECK_PREFIX}${hostname()}-${process.pid}-${randomBytes(4).toString('hex')}`;
  const body = Buffer.from(`pitr check ${new Date().toISOString()}\n`);
  try {
    await storage.put(key, body);
  } catch (err) {
    throw fail(`writing ${key}`, err);
  }
  let readError: unknown;
  try {
    const back = await storage.get(key);
    if (!back || !back.equals(body)) readError = new Error('what was read back is not what was written');
  } catch (err) {
    readError = err;
  }
  try {
    await storage.delete(key);
  } catch (err) {
    if (!readError) throw fail(`removing ${key}`, err);
  }
  if (readError) throw fail(`reading ${key} back`, readError);
  return `${storage.url} reachable and writable (wrote, read back and removed ${key})${identity ? '' : '; not bound yet: the first archived WAL binds it'}`;
}

async function checkArchiving(client: Client, inputs: CheckInputs): Promise<string> {
  const step = 'archiving';
  const before = await client.query<{ failed: string }>('SELECT failed_count::text AS failed FROM pg_stat_archiver');
  const failedBefore = Number(before.rows[0]!.failed);
  // A switch with nothing written since the last one switches nothing: write a commit record first.
  await client.query('SELECT txid_current()');
  const switched = await client.query<{ name: string }>('SELECT pg_walfile_name(pg_switch_wal()) AS name').catch((err: unknown) => {
    if ((err as { code?: string }).code !== '42501') throw err;
    throw new CheckFailure(
      step,
      `cannot force a WAL switch (${(err as Error).message}): connect as a superuser, or GRANT EXECUTE ON FUNCTION pg_switch_wal() TO the role`,
    );
  });
  const name = switched.rows[0]!.name;
  const key = walObjectKey(parseWalFileName(name)!);
  const started = Date.now();
  const pollMs = inputs.pollMs ?? 250;
  let archived = false;
  for (;;) {
    const { rows } = await client.query<{ last: string | null; failed: string; last_failed: string | null }>(
      'SELECT last_archived_wal AS last, failed_count::text AS failed, last_failed_wal AS last_failed FROM pg_stat_archiver',
    );
    const r = rows[0]!;
    // Same timeline: names compare as positions.
    if (!archived && r.last !== null && r.last.slice(0, 8) === name.slice(0, 8) && r.last >= name) archived = true;
    if (archived) {
      const head = await inputs.storage.getHead(key, 1).catch(() => null);
      if (head) break;
    }
    const failures = Number(r.failed) - failedBefore;
    // PostgreSQL gives up a file after three attempts in a row and waits a minute.
    if (!archived && failures >= 3)
      throw new CheckFailure(
        step,
        `archive_command failed ${failures} times since the check began (last for ${r.last_failed}): read the PostgreSQL log for its error ` +
          "(the repository, its permissions for the server's user, credentials, space) and fix it",
      );
    if (Date.now() - started > inputs.timeoutMs)
      throw new CheckFailure(
        step,
        archived
          ? `PostgreSQL reports ${name} archived, but ${key} is not in ${inputs.storage.url}: archive_command archives into another repository; make it use the same config as this pitr`
          : `${name} was not archived within ${formatDuration(inputs.timeoutMs)} (--timeout)${failures > 0 ? `, archive_command failed ${failures} time(s)` : ''}: ` +
              'read the PostgreSQL log for archive_command\'s error; a backlog of .ready files delays it too ("pitr status")',
      );
    await new Promise((r) => setTimeout(r, pollMs));
  }
  return `forced a WAL switch: ${name} archived and stored as ${key} in ${((Date.now() - started) / 1000).toFixed(1)} s`;
}
