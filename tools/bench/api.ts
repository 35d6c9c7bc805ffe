// Part `api`: the agent's HTTP interface on a large repository (BENCH_API_WAL, 100,000 WAL
// objects; BENCH_API_BACKUPS, 1,000 backups; file://, written as the `scale` part writes it):
// 20 clients at once for BENCH_API_SECONDS (30) on each of /api/status and /metrics, each
// client sending its next request when the last one answered (keep-alive). Reported: requests
// per second, latency p50/p99/max, errors, and the agent's peak RSS. Targets (issue 18): p99
// under 100 ms for /metrics, RSS at most 200 MB. The load runs in this process, on the same
// 2 CPUs as the agent.
import { spawn } from 'node:child_process';
import { mkdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { CHROMIUM, CHROMIUM_ARGS } from '../harness/chromium.js';
import { freePort, PITR_BIN, tempDir } from '../harness/env.js';
import { quantile, say, table } from './common.js';
import { writeFileRepository } from './scale.js';

const CLIENTS = 20;

async function rssKiB(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

/** The dashboard loaded RUNS times in a fresh page: first contentful paint, and when every backup row is there. */
async function firstRender(base: string, backups: number): Promise<{ fcp: number; rows: number; runs: number }> {
  const RUNS = 5;
  const { chromium } = await import('playwright-core');
  const profile = await tempDir('bench-chromium');
  const browser = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_ARGS,
  });
  const fcps: number[] = [];
  const rows: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      const page = await browser.newPage();
      await page.goto(`${base}/`);
      await page.waitForFunction((n) => document.querySelectorAll('#backups tbody tr').length >= n, backups, { timeout: 60_000 });
      const t = await page.evaluate(() => ({
        fcp: performance.getEntriesByName('first-contentful-paint')[0]?.startTime ?? NaN,
        now: performance.now(),
      }));
      fcps.push(t.fcp);
      rows.push(t.now);
      await page.close();
    }
  } finally {
    await browser.close();
  }
  const median = (xs: number[]) =>
    quantile(
      [...xs].sort((a, b) => a - b),
      0.5,
    );
  return { fcp: median(fcps), rows: median(rows), runs: RUNS };
}

export async function benchApi(walCount: number, backupCount: number, seconds: number): Promise<void> {
  const root = join(await tempDir('bench-api'), 'repo');
  await mkdir(root, { mode: 0o750 });
  say(`api: writing ${walCount} WAL objects and ${backupCount} backups to file://${root} ...`);
  await writeFileRepository(root, walCount, backupCount);
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const agent = spawn(PITR_BIN, ['agent'], {
    env: {
      ...process.env,
      PITR_REPO: `file://${root}`,
      PITR_HTTP_LISTEN: `127.0.0.1:${port}`,
      PITR_LOG_LEVEL: 'warn',
      PITR_SCHEDULE_BACKUP: 'off',
      PITR_SCHEDULE_VERIFY: 'off',
      PITR_SCHEDULE_RESTORE_TEST: 'off',
      // The database is a closed port: the watch judges the repository, which is what grows.
      PGHOST: '127.0.0.1',
      PGPORT: '9',
    },
    stdio: 'ignore',
  });
  try {
    const t0 = Date.now();
    for (;;) {
      const res = await fetch(`${base}/api/status`).catch(() => null);
      if (res?.status === 200) break;
      if (Date.now() - t0 > 300_000) throw new Error('the agent did not serve /api/status within 5 minutes');
      await sleep(200);
    }
    say(`api: first health watch served after ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // The listing is read once before the load: the first /api/backups waits for it.
    const first = performance.now();
    await (await fetch(`${base}/api/backups`)).arrayBuffer();
    say(`api: first /api/backups (the listing read) in ${((performance.now() - first) / 1000).toFixed(1)} s`);
    let peak = await rssKiB(agent.pid!);
    const sampler = setInterval(() => void rssKiB(agent.pid!).then((k) => (peak = Math.max(peak, k))), 500);
    const rows: string[][] = [];
    try {
      for (const path of ['/api/status', '/metrics', '/api/backups', '/healthz']) {
        say(`api: ${CLIENTS} clients on ${path} for ${seconds} s ...`);
        const latencies: number[] = [];
        let errors = 0;
        let bytes = 0;
        const end = performance.now() + seconds * 1000;
        await Promise.all(
          Array.from({ length: CLIENTS }, async () => {
            while (performance.now() < end) {
              const t = performance.now();
              try {
                const res = await fetch(`${base}${path}`);
                bytes += (await res.arrayBuffer()).byteLength;
                if (res.status !== 200) errors++;
              } catch {
                errors++;
              }
              latencies.push(performance.now() - t);
            }
          }),
        );
        latencies.sort((a, b) => a - b);
        rows.push([
          path,
          (latencies.length / seconds).toFixed(0),
          quantile(latencies, 0.5).toFixed(1),
          quantile(latencies, 0.99).toFixed(1),
          latencies.at(-1)!.toFixed(1),
          String(errors),
          (bytes / latencies.length / 1024).toFixed(1),
        ]);
      }
    } finally {
      clearInterval(sampler);
    }
    say();
    say(
      `The agent's HTTP interface, repository of ${walCount} WAL objects and ${backupCount} backups (file://), ${CLIENTS} clients, ${seconds} s each`,
    );
    say();
    table(['route', 'requests/s', 'p50 ms', 'p99 ms', 'max ms', 'errors', 'KiB/answer'], rows);
    say();
    say(`- the agent's peak RSS during the load: ${(peak / 1024).toFixed(0)} MiB (target 200 MB)`);
    const render = await firstRender(base, backupCount);
    say(
      `- the dashboard in headless Chromium (fresh profile, median of ${render.runs}): first contentful paint ${render.fcp.toFixed(0)} ms, ` +
        `all ${backupCount} backup rows shown ${render.rows.toFixed(0)} ms after navigation began (target: first render under 1 s)`,
    );
  } finally {
    agent.kill('SIGTERM');
  }
}
