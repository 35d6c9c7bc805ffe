// Part `agent`: what `pitr agent` costs, and what it buys.
//   idle     the agent with the contract's default schedules (none due) and a 60 s health
//            watch, on a cluster archiving into file:// with one backup, for
//            BENCH_AGENT_IDLE_SECONDS (600): its RSS and the CPU seconds it and the resident
//            archiver it keeps warm used, from /proc, after the first watch.
//   cold start  a bulk-insert load begun on a server whose resident archiver has gone (idle
//            for over 60 s: the first wal-push boots Node and the archiver), against the same
//            load with the agent up (it keeps the archiver warm): the .ready backlog sampled
//            every 250 ms, its maximum over the first 2 s, the first 5 s and the whole
//            BENCH_AGENT_LOAD_SECONDS (20). BENCH_ROUNDS (2) rounds, alternating.
// The health watch's cost per tick on a large repository is measured by the `scale` part.
import { execa, type ResultPromise } from 'execa';
import { mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { giveToPostgres, PITR_BIN, tempDir } from '../harness/env.js';
import { Cluster } from '../harness/postgres.js';
import { S3Server } from '../harness/s3.js';
import { benchAgeKey, pgbenchArgs, pitrConfText, say, table } from './common.js';

const TICK_MS = 10; // USER_HZ = 100

async function cpuMsOf(pid: number): Promise<number> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  if (text === null) return 0;
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) * TICK_MS;
}

async function rssKiBOf(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
}

async function archiverPid(dataDir: string): Promise<number | null> {
  const line = await readFile(join(dataDir, 'pg_wal', 'pitr', 'archiver.pid'), 'utf8').catch(() => '');
  const pid = Number(line.split(' ')[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '');
  return cmdline.includes('wal-archive-ahead') ? pid : null;
}

async function readyCount(dataDir: string): Promise<number> {
  return (await readdir(join(dataDir, 'pg_wal', 'archive_status')).catch(() => [] as string[])).filter((f) => f.endsWith('.ready')).length;
}

async function until(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

interface Setup {
  dir: string;
  cluster: Cluster;
  env: Record<string, string>;
}

/** A cluster archiving into file:// (no `s3`) or a new bucket of `s3`, through a config file as in production. */
async function setUp(s3?: S3Server, extra: Record<string, string> = {}): Promise<Setup> {
  const dir = await tempDir('bench-agent');
  await mkdir(join(dir, 'repo'));
  const repoEnv = { ...(s3 ? (await s3.newRepo()).env : { PITR_REPO: `file://${dir}/repo` }), ...extra };
  await writeFile(join(dir, 'pitr.env'), pitrConfText(repoEnv), { mode: 0o640 });
  await giveToPostgres(dir);
  const cluster = await Cluster.create({ conf: { max_wal_size: "'2GB'", fsync: 'on' } });
  await cluster.configure({ archive_mode: 'on', archive_command: `'${PITR_BIN} --config ${dir}/pitr.env wal-push %p'` });
  await cluster.start();
  const env = { ...cluster.libpqEnv, PITR_CONFIG: join(dir, 'pitr.env'), PGDATA: cluster.dataDir };
  return { dir, cluster, env };
}

async function tearDown(s: Setup): Promise<void> {
  await s.cluster.stop('immediate');
  await rm(s.dir, { recursive: true, force: true });
}

function startAgent(env: Record<string, string>, extra: Record<string, string> = {}): ResultPromise {
  return execa(PITR_BIN, ['agent'], { env: { ...process.env, ...env, ...extra }, reject: false, stdio: 'ignore' });
}

async function stopAgent(agent: ResultPromise): Promise<void> {
  agent.kill('SIGTERM');
  await agent;
}

export async function benchAgent(idleSeconds: number, loadSeconds: number, rounds: number): Promise<void> {
  await idle(idleSeconds);
  await coldStart(loadSeconds, rounds);
}

async function idle(seconds: number): Promise<void> {
  const s = await setUp();
  try {
    const backup = await execa(PITR_BIN, ['backup'], { env: { ...process.env, ...s.env }, reject: false });
    if (backup.exitCode !== 0) throw new Error(`backup: ${backup.stderr}`);
    say(`agent: idle for ${seconds} s (default schedules, PITR_WATCH_INTERVAL 60s) ...`);
    const agent = startAgent(s.env);
    try {
      // After its first watch, with the archiver it keeps warm running.
      await until('the agent state', async () => (await readFile(join(s.dir, 'repo', 'agent', 'state.json')).catch(() => null)) !== null);
      await until('the warm archiver', async () => (await archiverPid(s.cluster.dataDir)) !== null);
      const first = (await archiverPid(s.cluster.dataDir))!;
      const a0 = await cpuMsOf(agent.pid!);
      // Each archiver seen, with its CPU at the first and the last sample (one that the agent
      // starts again counts from its start, less the half second its start took before a sample).
      const archivers = new Map<number, { from: number; to: number }>([[first, { from: await cpuMsOf(first), to: 0 }]]);
      const t0 = Date.now();
      let rssMax = 0;
      let archiverRssMax = 0;
      while (Date.now() - t0 < seconds * 1000) {
        rssMax = Math.max(rssMax, await rssKiBOf(agent.pid!));
        const pid = await archiverPid(s.cluster.dataDir);
        if (pid !== null) {
          const cpu = await cpuMsOf(pid);
          archivers.set(pid, { from: archivers.get(pid)?.from ?? 0, to: cpu });
          archiverRssMax = Math.max(archiverRssMax, await rssKiBOf(pid));
        }
        await sleep(5000);
      }
      const wall = (Date.now() - t0) / 1000;
      const agentCpu = ((await cpuMsOf(agent.pid!)) - a0) / 1000;
      const archiverCpu = [...archivers.values()].reduce((sum, a) => sum + Math.max(0, a.to - a.from), 0) / 1000;
      const starts = archivers.size - 1;
      say();
      say(`Agent idle ${wall.toFixed(0)} s (default schedules, health watch every 60 s, one backup in the repository)`);
      say();
      table(
        ['process', 'CPU s', 'CPU % of one core', 'peak RSS MiB'],
        [
          ['pitr agent', agentCpu.toFixed(2), ((100 * agentCpu) / wall).toFixed(3), (rssMax / 1024).toFixed(0)],
          [
            `resident archiver kept warm${starts > 0 ? ` (started again ${starts} time(s))` : ''}`,
            archiverCpu.toFixed(2),
            ((100 * archiverCpu) / wall).toFixed(3),
            (archiverRssMax / 1024).toFixed(0),
          ],
        ],
      );
    } finally {
      await stopAgent(agent);
    }
  } finally {
    await tearDown(s);
  }
}

async function coldStart(seconds: number, rounds: number): Promise<void> {
  const rows: string[][] = [];
  const s3 = await S3Server.start();
  try {
    // Encrypted, the first call also loads the cipher: the slowest cold start.
    const key = await benchAgeKey(await tempDir('bench-key'));
    const stores: [string, S3Server | undefined, Record<string, string>][] = [
      ['file://', undefined, {}],
      ['s3 (s3rver)', s3, {}],
      ['s3 age (s3rver)', s3, { PITR_ENCRYPT_RECIPIENTS: key.recipient }],
    ];
    for (const [store, server, extra] of stores)
      for (let round = 1; round <= rounds; round++)
        for (const way of round % 2 === 1 ? (['cold', 'agent'] as const) : (['agent', 'cold'] as const))
          rows.push(await coldStartRun(server, extra, store, way, round, seconds));
  } finally {
    await s3.stop();
  }
  say();
  say(`Bulk-insert load of ${seconds} s begun with no resident archiver running, without and with the agent: .ready backlog every 250 ms`);
  say();
  table(['store', 'round', 'way', 'max first 2 s', 'max first 5 s', `max ${seconds} s`, "agent's archiver served the load"], rows);
}

async function coldStartRun(
  s3: S3Server | undefined,
  extra: Record<string, string>,
  store: string,
  way: 'cold' | 'agent',
  round: number,
  seconds: number,
): Promise<string[]> {
  say(`agent: ${store}, round ${round}, bulk load ${seconds} s, ${way === 'cold' ? 'no agent, archiver gone' : 'agent up'} ...`);
  const s = await setUp(s3, extra);
  let agent: ResultPromise | undefined;
  try {
    await s.cluster.query('CREATE TABLE bulk (id int, pad text)');
    const file = join(s.dir, 'bulk.sql');
    await writeFile(file, "INSERT INTO bulk SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;\n");
    await giveToPostgres(file);
    // One segment archived, then the resident archiver gone, as after a quiet minute.
    await s.cluster.query('CREATE TABLE warm (i int); INSERT INTO warm VALUES (1)');
    await s.cluster.waitArchived(await s.cluster.switchWal(), 120_000);
    const old = await archiverPid(s.cluster.dataDir);
    if (old) {
      process.kill(old, 'SIGTERM');
      await until('the archiver gone', async () => (await archiverPid(s.cluster.dataDir)) === null);
    }
    if (way === 'agent') {
      agent = startAgent(s.env);
      await until('the agent to start the archiver', async () => (await archiverPid(s.cluster.dataDir)) !== null);
    }
    const before = await archiverPid(s.cluster.dataDir);
    const [c, a] = pgbenchArgs(s.cluster.port, ['-n', '-f', file, '-c', '2', '-j', '2', '-T', String(seconds)]);
    const t0 = performance.now();
    const load = execa(c, a, { reject: false });
    let running = true;
    void load.finally(() => (running = false));
    const samples: { t: number; n: number }[] = [];
    while (running) {
      samples.push({ t: performance.now() - t0, n: await readyCount(s.cluster.dataDir) });
      await sleep(250);
    }
    await load;
    const max = (ms: number) => Math.max(0, ...samples.filter((x) => x.t <= ms).map((x) => x.n));
    // The agent's archiver served PostgreSQL's calls only if they did not replace it (a call
    // of another invocation fingerprint stops it and starts its own).
    const kept = way === 'agent' ? ((await archiverPid(s.cluster.dataDir)) === before ? 'yes' : 'no, replaced') : '-';
    return [
      store,
      String(round),
      way === 'cold' ? 'no agent, cold archiver' : 'agent up (archiver warm)',
      String(max(2000)),
      String(max(5000)),
      String(max(Infinity)),
      kept,
    ];
  } finally {
    if (agent) await stopAgent(agent);
    await tearDown(s);
  }
}
