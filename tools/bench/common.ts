// Shared by the benchmark parts: whole-process timing with peak RSS, quantiles, tables.
import { spawnSync } from 'node:child_process';

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
  const res = spawnSync('/usr/bin/time', ['-f', '%M', cmd, ...args], { env: { ...process.env, ...env }, cwd, encoding: 'utf8', maxBuffer: 1 << 26 });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  const rssLine = res.stderr.trim().split('\n').at(-1) ?? '0';
  return { ms, rssKiB: Number(rssLine) || 0, code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/** Every tool runs as the postgres user, as PostgreSQL (and an operator's sudo -u postgres) would. */
export function asPostgresArgs(cmd: string, args: string[]): [string, string[]] {
  return process.getuid?.() === 0 ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args];
}

export function quantile(sorted: number[], q: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)]!;
}

export function table(header: string[], rows: (string | number)[][]): void {
  say(`| ${header.join(' | ')} |`);
  say(`|${header.map((_, i) => (i === 0 ? '---' : '---:')).join('|')}|`);
  for (const r of rows) say(`| ${r.join(' | ')} |`);
}
