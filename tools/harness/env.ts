// Shared by the tests, the demo and the benchmark: paths, users, ports, running bin/pitr.
import { createHash } from 'node:crypto';
import { chmod, chown, mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { execa, type Result } from 'execa';

/** The checkout: the nearest directory above this file with a package.json (works from src and from the bundle). */
export const ROOT = findRoot(import.meta.dirname);
function findRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dir === dirname(dir)) throw new Error(`no package.json above ${start}`);
  }
}
export const PITR_BIN = join(ROOT, 'bin', 'pitr');
export const PG_BIN = process.env.PITR_TEST_PG_BIN ?? '/usr/lib/postgresql/15/bin';
/** PostgreSQL refuses to run as root: servers (and what they run) go through runuser. */
export const AS_ROOT = process.getuid?.() === 0;
const PG_UID = AS_ROOT ? Number((await execa('id', ['-u', 'postgres'])).stdout) : undefined;
const PG_GID = AS_ROOT ? Number((await execa('id', ['-g', 'postgres'])).stdout) : undefined;

/**
 * One directory for every temporary directory of a run (tests, demo, benchmark), so whoever
 * made it removes it whole at the end: clusters, repositories and restored copies add up to
 * gigabytes per test run.
 */
export async function makeTempRoot(label: string): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), `pitr-${label}-`));
  await chmod(root, 0o755);
  process.env.PITR_TMP_ROOT = root;
  return root;
}

/** Stops any server still running from a data directory under `root`, then removes it. */
export async function removeTempRoot(root: string): Promise<void> {
  const { readdir, rm } = await import('node:fs/promises');
  const entries = await readdir(root, { recursive: true }).catch(() => [] as string[]);
  for (const entry of entries.filter((e) => e.endsWith('postmaster.pid'))) {
    await asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', dirname(join(root, entry)), '-m', 'immediate', '-w', 'stop']);
  }
  await rm(root, { recursive: true, force: true });
}

/** A fresh directory the postgres user owns when we are root (servers and archive_command write there). */
export async function tempDir(prefix: string): Promise<string> {
  const dir = await mkdtemp(join(process.env.PITR_TMP_ROOT ?? tmpdir(), `pitr-${prefix}-`));
  await chmod(dir, 0o755);
  if (AS_ROOT) await chown(dir, PG_UID!, PG_GID!);
  return dir;
}

export async function giveToPostgres(path: string): Promise<void> {
  if (AS_ROOT) await execa('chown', ['-R', 'postgres:postgres', path]);
}

export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolvePort(port));
    });
  });
}

/** Runs a command as the postgres user (directly when we are not root). */
export function asPostgres(file: string, args: string[], options: { env?: Record<string, string>; cwd?: string } = {}) {
  const env = { ...process.env, ...options.env };
  if (!AS_ROOT) return execa(file, args, { env, cwd: options.cwd, reject: false });
  // runuser keeps the environment (no -l), so PITR_* and AWS_* reach the command.
  return execa('runuser', ['-u', 'postgres', '--', file, ...args], { env, cwd: options.cwd, reject: false });
}

export type PitrResult = Result & { exitCode: number; stderr: string; stdout: string };

/** Runs bin/pitr; never throws on a non-zero exit. */
export async function pitr(
  args: string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; asPostgres?: boolean } = {},
): Promise<PitrResult> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries({ ...process.env, PITR_CONFIG: undefined, ...options.env })) if (v !== undefined) env[k] = v;
  const result = options.asPostgres
    ? await asPostgres(PITR_BIN, args, { env, cwd: options.cwd })
    : await execa(PITR_BIN, args, { env, cwd: options.cwd, reject: false, extendEnv: false });
  return result as PitrResult;
}

/** Polls `check` until it returns a value (not undefined/false), failing after `timeoutMs`. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs = 60_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined && value !== false) return value;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Digest for byte-equality assertions: toEqual on 16 MiB Buffers walks every index and exhausts the heap. */
export function digest(data: Buffer | null): string | null {
  if (data === null) return null;
  return createHash('sha256').update(data).digest('hex');
}
