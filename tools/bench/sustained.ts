// Part 4: sustained archiving under load. For each way of archiving (none, pitr file://,
// pitr S3, both again encrypted to an age key, pgBackRest synchronous, pgBackRest asynchronous with process-max=2, and pitr and
// both pgBackRest ways again to S3 over TLS, the only way pgBackRest speaks S3), a fresh
// cluster runs a bulk-insert load and a pgbench TPC-B load for BENCH_LOAD_SECONDS (60) each,
// after one segment archived to warm up, while the .ready backlog is sampled every 500 ms. Reported: WAL MB/s generated, segments
// archived per second, the backlog (median, max), the time to drain it after the load, the
// load's tps as a ratio to the same load with archiving off (the CPU archiving takes), and the
// CPU the archiving processes used per segment, read from /proc. Each load runs BENCH_ROUNDS
// (2) times per way, the ways in the opposite order in the second round: a single 60 s run
// moves by 5-10% from one to the next on this machine, more than the differences measured.
//
// PostgreSQL runs with fsync on, as any server whose WAL is archived for recovery does
// (BENCH_PG_FSYNC=off for the harness's test setting). With fsync off the database leaves
// gigabytes of unsynced pages, and on ext4 (data=ordered) every fsync of a repository file on
// the same disk then waits for a journal commit that first writes those pages: 150-350 ms at
// times, which is 3-5 segments of backlog for any archiver that stores durably.
import { execa } from 'execa';
import { chmod, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { request as httpsRequest } from 'node:https';
import { basename, dirname, join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { giveToPostgres, PITR_BIN, tempDir } from '../harness/env.js';
import { Cluster } from '../harness/postgres.js';
import { S3Server } from '../harness/s3.js';
import { asPostgresArgs, benchAgeKey, pgbenchArgs, pitrConfText, quantile, say, table, writePgbackrestConf } from './common.js';

interface Way {
  label: string;
  /** archive_command for the cluster, or null for archive_mode = off; set up in `dir`. */
  setup: (dir: string, cluster: { dataDir: string; port: number }, sockDir: string) => Promise<string | null>;
  /** Run after the cluster starts (pgBackRest's stanza-create). */
  after?: (dir: string) => Promise<void>;
}

interface Result {
  way: string;
  load: string;
  tps: number;
  walMBps: number;
  archivedPerSec: number;
  backlogMedian: number;
  backlogMax: number;
  drainS: number;
  /** CPU the archiving processes used, per segment archived (ms). */
  cpuPerSegment: number;
}

export async function benchSustained(seconds: number): Promise<void> {
  const s3 = await S3Server.start();
  // pgBackRest speaks S3 over TLS only: a second s3rver serves HTTPS with a throwaway
  // self-signed certificate, and pitr is measured against it too, so that both pay for TLS.
  const tlsDir = await tempDir('s3tls');
  const tls = { keyFile: join(tlsDir, 'key.pem'), certFile: join(tlsDir, 'cert.pem') };
  await execa('openssl', [
    'req',
    '-x509',
    '-newkey',
    'rsa:2048',
    '-nodes',
    '-subj',
    '/CN=127.0.0.1',
    '-addext',
    'subjectAltName=IP:127.0.0.1',
    '-days',
    '2',
    '-keyout',
    tls.keyFile,
    '-out',
    tls.certFile,
  ]);
  await chmod(tls.certFile, 0o644); // read by archive_command (NODE_EXTRA_CA_CERTS)
  const s3tls = await S3Server.start(undefined, 0, tls);
  const s3tlsRepo = async (dir: string) => {
    const bucket = `bench-${basename(dir)
      .toLowerCase()
      .replace(/[^a-z0-9]/g, '')}`;
    await createBucketInsecure(s3tls.endpoint, bucket);
    return bucket;
  };
  const pgbr = (dir: string, args: string[]) => {
    const [c, a] = asPostgresArgs('pgbackrest', ['--config', join(dir, 'pgbackrest.conf'), '--stanza=bench', ...args]);
    return execa(c, a, { reject: false });
  };
  const stanzaCreate = async (dir: string) => {
    const res = await pgbr(dir, ['stanza-create']);
    if (res.exitCode !== 0) throw new Error(`pgbackrest stanza-create failed: ${res.stdout} ${res.stderr}`);
  };
  // The age ways encrypt to a public key; the archiver holds no identity, as on a database host.
  const key = await benchAgeKey(await tempDir('bench-key'));
  const age = { PITR_ENCRYPT_RECIPIENTS: key.recipient };
  const pitrWays = (bin: string, prefix: string): Way[] => [
    { label: `${prefix}pitr file://`, setup: async (dir) => `${bin} --repo file://${dir}/repo --log-level warn wal-push %p` },
    {
      label: `${prefix}pitr file:// age`,
      setup: async (dir) => {
        await writeFile(join(dir, 'pitr.env'), pitrConfText({ PITR_REPO: `file://${dir}/repo`, ...age }), { mode: 0o640 });
        return `${bin} --config ${dir}/pitr.env wal-push %p`;
      },
    },
    {
      label: `${prefix}pitr s3 age (s3rver)`,
      setup: async (dir) => {
        const { env } = await s3.newRepo();
        await writeFile(join(dir, 'pitr.env'), pitrConfText({ ...env, ...age }), { mode: 0o640 });
        return `${bin} --config ${dir}/pitr.env wal-push %p`;
      },
    },
    {
      label: `${prefix}pitr s3 (s3rver)`,
      setup: async (dir) => {
        const { env } = await s3.newRepo();
        await writeFile(join(dir, 'pitr.env'), pitrConfText(env), { mode: 0o640 });
        return `${bin} --config ${dir}/pitr.env wal-push %p`;
      },
    },
    {
      label: `${prefix}pitr s3 TLS (s3rver)`,
      setup: async (dir) => {
        const bucket = await s3tlsRepo(dir);
        const env = {
          PITR_REPO: `s3://${bucket}/main`,
          PITR_S3_ENDPOINT: s3tls.endpoint,
          PITR_S3_FORCE_PATH_STYLE: 'true',
          AWS_ACCESS_KEY_ID: 'S3RVER',
          AWS_SECRET_ACCESS_KEY: 'S3RVER',
        };
        await writeFile(join(dir, 'pitr.env'), pitrConfText(env), { mode: 0o640 });
        return `env NODE_EXTRA_CA_CERTS=${tls.certFile} ${bin} --config ${dir}/pitr.env wal-push %p`;
      },
    },
  ];
  const ways: Way[] = [
    { label: 'archiving off', setup: async () => null },
    ...pitrWays(PITR_BIN, ''),
    // BENCH_BASELINE_PITR: another checkout's bin/pitr, run beside this one in the same rounds (before/after a change).
    ...(process.env.BENCH_BASELINE_PITR ? pitrWays(process.env.BENCH_BASELINE_PITR, 'baseline ') : []),
    {
      label: 'pgBackRest sync',
      setup: async (dir, cluster, sock) => {
        await writePgbackrestConf(dir, cluster, sock);
        return `pgbackrest --config ${dir}/pgbackrest.conf --stanza=bench archive-push %p`;
      },
      after: (dir) => stanzaCreate(dir),
    },
    {
      label: 'pgBackRest async, process-max=2',
      setup: async (dir, cluster, sock) => {
        await writePgbackrestConf(dir, cluster, sock, ['archive-async=y', 'process-max=2']);
        return `pgbackrest --config ${dir}/pgbackrest.conf --stanza=bench archive-push %p`;
      },
      after: (dir) => stanzaCreate(dir),
    },
    {
      label: 'pgBackRest sync s3 TLS (s3rver)',
      setup: async (dir, cluster, sock) => {
        await writePgbackrestConf(dir, cluster, sock, pgbackrestS3(await s3tlsRepo(dir), s3tls.port));
        return `pgbackrest --config ${dir}/pgbackrest.conf --stanza=bench archive-push %p`;
      },
      after: (dir) => stanzaCreate(dir),
    },
    {
      label: 'pgBackRest async s3 TLS (s3rver), process-max=2',
      setup: async (dir, cluster, sock) => {
        await writePgbackrestConf(dir, cluster, sock, [
          ...pgbackrestS3(await s3tlsRepo(dir), s3tls.port),
          'archive-async=y',
          'process-max=2',
        ]);
        return `pgbackrest --config ${dir}/pgbackrest.conf --stanza=bench archive-push %p`;
      },
      after: (dir) => stanzaCreate(dir),
    },
  ];
  const results: Result[] = [];
  const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
  // BENCH_WAYS / BENCH_LOADS (comma-separated label prefixes, or whole labels ending in '$')
  // narrow a run, for quick comparisons.
  const pick = (label: string, env?: string) =>
    !env || env.split(',').some((p) => (p.endsWith('$') ? label === p.slice(0, -1) : label.startsWith(p)));
  const chosen = ways.filter((w) => w.label === 'archiving off' || pick(w.label, process.env.BENCH_WAYS));
  const loads = (['bulk insert', 'pgbench TPC-B'] as const).filter((l) => pick(l, process.env.BENCH_LOADS));
  try {
    for (let round = 1; round <= rounds; round++) {
      for (const load of loads) {
        for (const way of round % 2 === 1 ? chosen : [...chosen].reverse()) {
          results.push(await runOne(way, load, seconds));
          say(`  round ${round}, ${way.label}, ${load}: done`);
        }
      }
    }
  } finally {
    await Promise.all([s3.stop(), s3tls.stop()]);
  }
  const of = (way: string, load: string) => results.filter((r) => r.way === way && r.load === load);
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const each = (rs: Result[], f: (r: Result) => string) => rs.map(f).join(' / ');
  say();
  table(
    [
      `sustained archiving, ${seconds} s loads, ${rounds} round(s), PostgreSQL fsync=${pgFsync()}`,
      'load',
      'tps (each round)',
      'tps / off (means)',
      'WAL MB/s',
      'segments/s',
      'backlog median',
      'backlog max',
      'drain s',
      'archiving CPU ms/segment',
    ],
    loads.flatMap((load) =>
      chosen.map((way) => {
        const rs = of(way.label, load);
        const off = way.label === 'archiving off';
        return [
          way.label,
          load,
          each(rs, (r) => r.tps.toFixed(0)),
          (mean(rs.map((r) => r.tps)) / mean(of('archiving off', load).map((r) => r.tps))).toFixed(2),
          each(rs, (r) => r.walMBps.toFixed(0)),
          each(rs, (r) => r.archivedPerSec.toFixed(1)),
          off ? '-' : each(rs, (r) => String(r.backlogMedian)),
          off ? '-' : each(rs, (r) => String(r.backlogMax)),
          off ? '-' : each(rs, (r) => r.drainS.toFixed(1)),
          off ? '-' : each(rs, (r) => (r.archivedPerSec ? r.cpuPerSegment.toFixed(0) : '-')),
        ];
      }),
    ),
  );
  say('archiving CPU: archive_command and its children (reaped by PostgreSQL), plus the background workers sampled every');
  say('500 ms (pitr wal-archive-ahead; pgBackRest async archive-push, which exits between samples: a floor). s3rver not counted.');
}

async function runOne(way: Way, load: 'bulk insert' | 'pgbench TPC-B', seconds: number): Promise<Result> {
  const dir = await tempDir('bench-sustained');
  const sockDir = join(dir, 'sock');
  await mkdir(sockDir);
  await mkdir(join(dir, 'repo'));
  await giveToPostgres(dir);
  // The port is needed for pgBackRest's configuration before the cluster exists.
  const cluster = await Cluster.create({ conf: { unix_socket_directories: `'${sockDir}'`, max_wal_size: "'2GB'", fsync: pgFsync() } });
  const command = await way.setup(dir, cluster, sockDir);
  await giveToPostgres(dir);
  // configure() rewrites the socket setting too: keep pgBackRest's socket directory.
  const sockets = { unix_socket_directories: `'${sockDir}'` };
  await cluster.configure(
    command === null ? { ...sockets, archive_mode: 'off' } : { ...sockets, archive_mode: 'on', archive_command: `'${command}'` },
  );
  try {
    await cluster.start();
    await way.after?.(dir);
    const bench = (args: string[]) => {
      const [c, a] = pgbenchArgs(cluster.port, args);
      return execa(c, a, { reject: false });
    };
    let script: string[];
    if (load === 'bulk insert') {
      await cluster.query('CREATE TABLE bulk (id int, pad text)');
      const file = join(dir, 'bulk.sql');
      await writeFile(file, "INSERT INTO bulk SELECT g, repeat('x', 200) FROM generate_series(1, 20000) g;\n");
      await giveToPostgres(file);
      script = ['-n', '-f', file, '-c', '2', '-j', '2'];
    } else {
      const init = await bench(['-i', '-q', '-s', '10']);
      if (init.exitCode !== 0) throw new Error(`pgbench -i: ${init.stderr}`);
      script = ['-n', '-c', '4', '-j', '2'];
    }
    await drain(cluster, 600_000); // start from an empty backlog
    // Warm: one segment archived before the load, so that a resident worker (pitr's archiver,
    // pgBackRest's async process) runs as it does on any server that has archived before. The
    // first call's own cost is part wal's "first call".
    if (command !== null) {
      await cluster.query('CREATE TABLE warm (i int); INSERT INTO warm VALUES (1)');
      await cluster.waitArchived(await cluster.switchWal(), 120_000);
    }
    const walDir = join(cluster.dataDir, 'pg_wal', 'archive_status');
    const lsn0 = await cluster.one<string>('SELECT pg_current_wal_lsn()::text');
    const archived0 = Number(await cluster.one<string>('SELECT archived_count::text FROM pg_stat_archiver'));
    const archiver = await archiverProcess(cluster.dataDir);
    const reaped0 = archiver ? await cpuMs(archiver, 'children') : 0;
    const workers = new Map<number, number>(); // background archiving processes -> CPU ms seen
    const workers0 = new Map<number, number>(); // ... before the load (the warm-up's share)
    await sampleWorkers(workers0);
    const run = bench([...script, '-T', String(seconds)]);
    const samples: number[] = [];
    let running = true;
    void run.finally(() => (running = false));
    while (running) {
      samples.push(await readyCount(walDir));
      await sampleWorkers(workers);
      await sleep(500);
    }
    const out = await run;
    const tps = Number(/tps = ([\d.]+)/.exec(out.stdout)?.[1] ?? NaN);
    const walBytes = Number(await cluster.one<string>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${lsn0}')::text`));
    const archived = Number(await cluster.one<string>('SELECT archived_count::text FROM pg_stat_archiver')) - archived0;
    const t0 = Date.now();
    if (command !== null) await drain(cluster, 1_800_000);
    await sampleWorkers(workers);
    const reaped = archiver ? (await cpuMs(archiver, 'children')) - reaped0 : 0;
    const archivedTotal = Number(await cluster.one<string>('SELECT archived_count::text FROM pg_stat_archiver')) - archived0;
    if (process.env.BENCH_SERIES) console.error(`${way.label}, ${load}, backlog every 500 ms: ${samples.join(' ')}`);
    const sorted = [...samples].sort((a, b) => a - b);
    return {
      way: way.label,
      load,
      tps,
      walMBps: walBytes / 1e6 / seconds,
      archivedPerSec: archived / seconds,
      backlogMedian: sorted.length ? quantile(sorted, 0.5) : 0,
      backlogMax: sorted.length ? sorted.at(-1)! : 0,
      drainS: (Date.now() - t0) / 1000,
      cpuPerSegment: (reaped + [...workers].reduce((a, [pid, ms]) => a + ms - (workers0.get(pid) ?? 0), 0)) / Math.max(1, archivedTotal),
    };
  } finally {
    await cluster.stop('immediate');
    // A 60 s bulk load leaves up to ~20 GB of table and WAL: ten runs kept to the end fill the disk.
    await Promise.all([rm(dirname(cluster.dataDir), { recursive: true, force: true }), rm(dir, { recursive: true, force: true })]);
  }
}

function pgFsync(): 'on' | 'off' {
  return process.env.BENCH_PG_FSYNC === 'off' ? 'off' : 'on';
}

async function readyCount(dir: string): Promise<number> {
  return (await readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.ready')).length;
}

/** Waits until PostgreSQL has nothing left to archive. */
async function drain(cluster: Cluster, timeoutMs: number): Promise<void> {
  const dir = join(cluster.dataDir, 'pg_wal', 'archive_status');
  const deadline = Date.now() + timeoutMs;
  while ((await readyCount(dir)) > 0) {
    if (Date.now() > deadline) throw new Error(`archiving did not drain within ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

// CPU accounting, from /proc. archive_command runs as a child of PostgreSQL's archiver process,
// which reaps it, so its CPU (and its children's) adds up in the archiver's cutime + cstime.
// Background workers (pitr's resident archiver, pgBackRest's async archive-push) are detached:
// their own CPU is sampled while they live (a worker that exits between samples loses its
// last half second, so the async figures are a floor).
const TICK_MS = 1000 / 100; // USER_HZ

async function statFields(pid: number): Promise<string[] | null> {
  const text = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return text === null ? null : text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime ('self') or cutime + cstime ('children'), in ms. */
async function cpuMs(pid: number, which: 'self' | 'children'): Promise<number> {
  const f = await statFields(pid); // f[0] is field 3 (state)
  if (!f) return 0;
  const [a, b] = which === 'self' ? [f[11], f[12]] : [f[13], f[14]];
  return (Number(a) + Number(b)) * TICK_MS;
}

async function archiverProcess(dataDir: string): Promise<number | null> {
  const postmaster = Number((await readFile(join(dataDir, 'postmaster.pid'), 'utf8')).split('\n')[0]);
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const f = await statFields(Number(entry));
    if (
      f &&
      Number(f[1]) === postmaster &&
      (await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')).startsWith('postgres: archiver')
    )
      return Number(entry);
  }
  return null;
}

async function sampleWorkers(seen: Map<number, number>): Promise<void> {
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.includes('wal-archive-ahead') || cmdline.includes('archive-push:async'))
      seen.set(Number(entry), await cpuMs(Number(entry), 'self'));
  }
}

/** pgBackRest's repository settings for a bucket on the benchmark's HTTPS s3rver. */
function pgbackrestS3(bucket: string, port: number): string[] {
  return [
    'repo1-type=s3',
    `repo1-s3-bucket=${bucket}`,
    'repo1-s3-endpoint=127.0.0.1',
    `repo1-storage-port=${port}`,
    'repo1-s3-region=us-east-1',
    'repo1-s3-key=S3RVER',
    'repo1-s3-key-secret=S3RVER',
    'repo1-s3-uri-style=path',
    'repo1-storage-verify-tls=n', // the throwaway self-signed certificate
  ];
}

/** Creates a bucket on the HTTPS s3rver (which takes unsigned requests) without trusting its certificate. */
async function createBucketInsecure(endpoint: string, bucket: string): Promise<void> {
  const status = await new Promise<number>((resolve, reject) => {
    const req = httpsRequest(`${endpoint}/${bucket}`, { method: 'PUT', rejectUnauthorized: false }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end();
  });
  if (status !== 200) throw new Error(`creating bucket ${bucket} on ${endpoint}: HTTP ${status}`);
}
