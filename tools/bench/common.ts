// Shared by the benchmark parts: whole-process timing with peak RSS, quantiles, tables.
import { spawnSync } from 'node:child_process';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PG_BIN } from '../harness/env.js';

export const say = (line = '') => process.stdout.write(`${line}\n`);

export interface Sample {
  ms: number;
  rssKiB: number;
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one command as a whole process; wall time measured here, peak RSS by GNU time. */
export function timed(cmd: string, args: string[], env: Record<string, string>, cwd: string): Sample {
  const start = process.hrtime.bigint();
  const res = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], {
    env: { ...process.env, ...env },
    cwd,
    encoding: 'utf8',
    maxBuffer: 1 << 26,
  });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const rssLine = res.stderr.trim().split('\n').at(-1) ?? '0';
  return { ms, rssKiB: Number(rssLine) || 0, code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** Every tool runs as the postgres user, as PostgreSQL (and an operator's sudo -u postgres) would. */
export function asPostgresArgs(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

/** pgbench on the cluster at `port`, as the postgres user: `args` first (-i -s N, or a load). */
export function pgbenchArgs(port: number, args: string[]): [string, string[]] {
  return asPostgresArgs(join(PG_BIN, 'pgbench'), [...args, '-h', '127.0.0.1', '-p', String(port), '-U', 'postgres', 'postgres']);
}

/** A pitr config file's text for these settings, quiet on success. */
export function pitrConfText(env: Record<string, string>): string {
  return `${Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n')}\nPITR_LOG_LEVEL=warn\n`;
}

export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

export function table(header: string[], rows: (string | number)[][]): void {
  say(`| ${header.join(' | ')} |`);
  say(`|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
  for (const r of rows) say(`| ${r.join(' | ')} |`);
}

/** pgBackRest's config for a posix repository under `work`, lz4, as its documentation sets it up. */
export async function writePgbackrestConf(
  work: string,
  pg: { dataDir: string; port: number },
  sockDir: string,
  extraGlobal: string[] = [],
): Promise<string> {
  const path = join(work, 'pgbackrest.conf');
  const lines = [
    '[global]',
    `repo1-path=${join(work, 'pgbr-repo')}`,
    'compress-type=lz4',
    'log-level-console=warn',
    'log-level-file=off',
    ...extraGlobal,
    `lock-path=${join(work, 'pgbr-lock')}`,
    `spool-path=${join(work, 'pgbr-spool')}`,
    '',
    '[bench]',
    `pg1-path=${pg.dataDir}`,
    `pg1-port=${pg.port}`,
    `pg1-socket-path=${sockDir}`,
    '',
  ];
  await writeFile(path, lines.join('\n'));
  return path;
}

/** A throwaway age key pair for the encrypted ways: the recipient, and the identity file (readable by postgres). */
export async function benchAgeKey(dir: string): Promise<{ recipient: string; identityFile: string }> {
  const identityFile = join(dir, 'bench-age-key.txt');
  const made = spawnSync('age-keygen', ['-o', identityFile], { encoding: 'utf8' });
  if (made.status !== 0) throw new Error(`age-keygen failed (apt-get install age): ${made.stderr}`);
  spawnSync('chown', ['postgres:postgres', identityFile]);
  const recipient = /age1[0-9a-z]+/.exec(made.stderr)?.[0];
  if (!recipient) throw new Error('age-keygen printed no public key');
  return { recipient, identityFile };
}
