// Part 1: what PostgreSQL pays per WAL segment. Each archive_command / restore_command call
// is a whole process, so that is what is timed: wal-push and wal-fetch on real 16 MiB
// segments (a pgbench load's WAL), into file:// and S3 (s3rver on loopback), side by side
// with pgBackRest's archive-push / archive-get (posix repo, lz4) in the same run.
import { spawnSync } from 'node:child_process';
import { copyFile, mkdir, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { giveToPostgres, PITR_BIN, tempDir } from '../harness/env.js';
import { Cluster } from '../harness/postgres.js';
import { S3Server } from '../harness/s3.js';
import { asPostgresArgs, pgbenchArgs, quantile, say, table, timed, type Sample, writePgbackrestConf } from './common.js';
import { benchTransactionIndex } from './transaction-index.js';

interface Row {
  label: string;
  median: number;
  p95: number;
  mbps: number;
  rssMiB: number;
  failures: number;
}

function summarise(label: string, samples: Sample[], bytesPerCall: number): Row {
  const ms = samples.map((s) => s.ms).sort((a, b) => a - b);
  const median = quantile(ms, 0.5);
  return {
    label,
    median,
    p95: quantile(ms, 0.95),
    mbps: bytesPerCall / 1048576 / (median / 1000),
    rssMiB: Math.max(...samples.map((s) => s.rssKiB)) / 1024,
    failures: samples.filter((s) => s.code !== 0 && s.code !== 1).length,
  };
}

export async function benchWal(segments: number): Promise<void> {
  const SEGMENTS = segments;
  const work = await tempDir('bench');
  const walDir = join(work, 'wal');
  const sockDir = join(work, 'sock');
  await mkdir(walDir);
  await mkdir(sockDir);
  await giveToPostgres(work);

  say(`generating ${SEGMENTS} real WAL segments (pgbench -i) ...`);
  const cluster = await Cluster.create({
    conf: { archive_mode: 'on', archive_command: `'cp %p ${walDir}/%f'`, unix_socket_directories: `'${sockDir}'`, max_wal_size: "'4GB'" },
  });
  const s3 = await S3Server.start();
  try {
    await cluster.start();
    const scale = Math.ceil(SEGMENTS * 1.4) + 2; // pgbench -i writes ~0.8 segments of WAL per scale unit
    const [pgbench, pgbenchInit] = pgbenchArgs(cluster.port, ['-i', '-q', '-s', String(scale)]);
    const init = spawnSync(pgbench, pgbenchInit, { encoding: 'utf8' });
    if (init.status !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    await cluster.waitArchived(await cluster.switchWal());
    const names = (await readdir(walDir))
      .filter((n) => /^[0-9A-F]{24}$/.test(n))
      .sort()
      .slice(1, SEGMENTS + 1);
    const segBytes = (await stat(join(walDir, names[0]!))).size;
    say(`${names.length} segments of ${segBytes / 1048576} MiB`);
    // OLTP WAL beside the bulk load's, for the index's usual cost.
    const bulk = new Set(await readdir(walDir));
    const [tpcb, tpcbArgs] = pgbenchArgs(cluster.port, ['-c', '4', '-T', '15']);
    if (spawnSync(tpcb, tpcbArgs, { encoding: 'utf8' }).status !== 0) throw new Error('pgbench TPC-B failed');
    await cluster.waitArchived(await cluster.switchWal());
    // Not the first (it began during the load) nor the last (the switch's, mostly empty).
    const oltp = (await readdir(walDir))
      .filter((n) => /^[0-9A-F]{24}$/.test(n) && !bulk.has(n))
      .sort()
      .slice(1, -1);
    benchTransactionIndex(walDir, [
      { label: 'bulk load (pgbench -i)', names },
      { label: 'TPC-B (pgbench -c 4 -T 15)', names: oltp },
    ]);

    // pitr repositories
    const fileRepo = join(work, 'pitr-repo');
    await mkdir(fileRepo);
    const { env: s3Env } = await s3.newRepo();
    const pitrFile = { PITR_REPO: `file://${fileRepo}`, PITR_LOG_LEVEL: 'warn' };
    const pitrS3 = { ...s3Env, PITR_LOG_LEVEL: 'warn' };

    const pgbrConf = await writePgbackrestConf(work, cluster, sockDir);
    await giveToPostgres(work);
    const pgbr = (args: string[]) => ['--config', pgbrConf, '--stanza=bench', ...args];
    const created = spawnSync('runuser', ['-u', 'postgres', '--', 'pgbackrest', ...pgbr(['stanza-create'])], { encoding: 'utf8' });
    if (created.status !== 0) throw new Error(`pgbackrest stanza-create failed: ${created.stdout} ${created.stderr}`);

    // Every tool runs as the postgres user, as archive_command would.
    const run = (cmd: string, args: string[], env: Record<string, string>) => {
      const [c, a] = asPostgresArgs(cmd, args);
      return timed(c, a, env, cluster.dataDir);
    };
    const fetchDir = join(work, 'fetch');
    await mkdir(fetchDir);
    await giveToPostgres(fetchDir);

    // Bound by hand: the cluster archives into more than one repository here, and a push never
    // binds an empty one once its cluster has archived elsewhere (archive/archived-into.ts).
    for (const env of [pitrFile, pitrS3]) {
      const init = run(PITR_BIN, ['init', '--pgdata', cluster.dataDir], env);
      if (init.code !== 0) throw new Error(`pitr init failed: ${init.stderr}`);
    }

    const tools = [
      {
        label: 'pitr file://',
        push: (p: string) => run(PITR_BIN, ['wal-push', p], pitrFile),
        get: (n: string, d: string) => run(PITR_BIN, ['wal-fetch', n, d], pitrFile),
      },
      {
        label: 'pitr s3 (s3rver)',
        push: (p: string) => run(PITR_BIN, ['wal-push', p], pitrS3),
        get: (n: string, d: string) => run(PITR_BIN, ['wal-fetch', n, d], pitrS3),
      },
      {
        label: 'pgBackRest posix',
        push: (p: string) => run('pgbackrest', pgbr(['archive-push', p]), {}),
        get: (n: string, d: string) => run('pgbackrest', pgbr(['archive-get', n, d]), {}),
      },
    ];

    const rows: Row[] = [];
    for (const tool of tools) {
      const pushes = names.map((n) => tool.push(join(walDir, n)));
      rows.push(summarise(`${tool.label} push`, pushes, segBytes));
      const gets = names.map((n) => {
        const dest = join(fetchDir, 'RECOVERYXLOG');
        const s = tool.get(n, dest);
        spawnSync('rm', ['-f', dest]);
        return s;
      });
      rows.push(summarise(`${tool.label} fetch`, gets, segBytes));
      const misses = Array.from({ length: 10 }, (_, i) =>
        tool.get(`0000000900000000000000${(i + 16).toString(16).toUpperCase()}`, join(fetchDir, 'MISS')),
      );
      rows.push(summarise(`${tool.label} fetch, not found`, misses, 0));
    }

    // The start-up of each path on its own: a bare Node process, and the wal-push call that
    // bin/pitr answers from a record (no Node at all). The records are real: a first push of
    // each file from a data directory's pg_wal leaves one.
    rows.push(
      summarise(
        'node -e 0 (floor of any Node process)',
        names.map(() => run(process.execPath, ['-e', '0'], {})),
        0,
      ),
    );
    // BENCH_BASELINE_PITR: another checkout's bin/pitr, measured beside this one (before/after a change).
    const bins: [string, string][] = [
      ['', PITR_BIN],
      ...(process.env.BENCH_BASELINE_PITR ? [['baseline ', process.env.BENCH_BASELINE_PITR] as [string, string]] : []),
    ];
    for (const [prefix, bin] of bins) {
      const noAhead = { ...pitrFile, PITR_REPO: `file://${await freshDir(work, `${prefix}pitr-repo-hits`)}`, PITR_ARCHIVE_LOOKAHEAD: '0' };
      const hitsDir = await fakeDataDir(work, `${prefix}hits`, cluster.dataDir, walDir, names, false);
      const firsts = names.map((n) => timed(...asPostgresArgs(bin, ['wal-push', join('pg_wal', n)]), noAhead, hitsDir));
      rows.push(summarise(`${prefix}pitr file:// push from pg_wal, reaching Node`, firsts, segBytes));
      // Answered calls: the resident archiver has stored every file ahead (a server "runs", so
      // it stays, and its records answer while it lives); each call is then PostgreSQL's.
      const aheadDir = await fakeDataDir(work, `${prefix}ahead`, cluster.dataDir, walDir, names, true);
      await writeFile(join(aheadDir, 'postmaster.pid'), `${process.pid}\n${aheadDir}\n0\n`);
      const ahead = {
        ...pitrFile,
        PITR_REPO: `file://${await freshDir(work, `${prefix}pitr-repo-ahead`)}`,
        PITR_LOG_LEVEL: 'info',
        PITR_ARCHIVE_LOOKAHEAD: String(names.length),
      }; // info: the launcher says it answered
      timed(...asPostgresArgs(bin, ['wal-push', join('pg_wal', names[0]!)]), ahead, aheadDir);
      const recorded = join(aheadDir, 'pg_wal', 'pitr', 'archived');
      for (
        let waited = 0;
        waited < 60_000 &&
        (await readdir(recorded).catch(() => [] as string[])).filter((e) => !e.startsWith('.')).length < names.length - 1;
        waited += 50
      ) {
        await new Promise((r) => setTimeout(r, 50));
      }
      const hits = names.slice(1).map((n) => timed(...asPostgresArgs(bin, ['wal-push', join('pg_wal', n)]), ahead, aheadDir));
      await rm(join(aheadDir, 'postmaster.pid'));
      rows.push(summarise(`${prefix}pitr file:// push answered by bin/pitr from a record`, hits, segBytes));
      const answered = hits.filter((h) => h.stderr.includes('"via":"bin/pitr"')).length;
      say(`  ${prefix}answered by bin/pitr: ${answered} of ${hits.length} calls`);
    }

    // A backlog drained as PostgreSQL drains it: one call per file, in order, each file
    // marked .done after its call. The first call starts the resident archiver, which works
    // ahead of the calls that follow. A server "runs" (postmaster.pid): the archiver stays
    // while one does, and its records answer only while it lives.
    const backlog: string[][] = [];
    for (const [prefix, bin] of bins) {
      for (const [label, env] of [
        ['pitr file://', { ...pitrFile, PITR_REPO: `file://${await freshDir(work, `${prefix}pitr-repo-backlog`)}` }],
        ['pitr s3 (s3rver)', { ...(await s3.newRepo()).env, PITR_LOG_LEVEL: 'warn' }],
      ] as const) {
        const dir = await fakeDataDir(work, `${prefix}backlog-${backlog.length}`, cluster.dataDir, walDir, names, true);
        await writeFile(join(dir, 'postmaster.pid'), `${process.pid}\n${dir}\n0\n`);
        const started = process.hrtime.bigint();
        const calls = names.map((n) => {
          const sample = timed(...asPostgresArgs(bin, ['wal-push', join('pg_wal', n)]), env, dir);
          spawnSync('rm', ['-f', join(dir, 'pg_wal', 'archive_status', `${n}.ready`)]);
          return sample;
        });
        const total = Number(process.hrtime.bigint() - started) / 1e6;
        await rm(join(dir, 'postmaster.pid'));
        const later = calls
          .slice(1)
          .map((c) => c.ms)
          .sort((a, b) => a - b);
        const failed = calls.filter((c) => c.code !== 0).length;
        backlog.push([
          `${prefix}${label}`,
          calls[0]!.ms.toFixed(0),
          quantile(later, 0.5).toFixed(0),
          (total / names.length).toFixed(0),
          (names.length / (total / 1000)).toFixed(1),
          String(failed),
        ]);
      }
    }
    const pgbrPush = rows.find((r) => r.label === 'pgBackRest posix push')!;
    backlog.push([
      'pgBackRest posix (synchronous: every call does its own push)',
      pgbrPush.median.toFixed(0),
      pgbrPush.median.toFixed(0),
      pgbrPush.median.toFixed(0),
      (1000 / pgbrPush.median).toFixed(1),
      String(pgbrPush.failures),
    ]);

    say();
    say(`| per call (${names.length} segments, whole processes) | median ms | p95 ms | MB/s | peak RSS MiB | failures |`);
    say('|---|---:|---:|---:|---:|---:|');
    for (const r of rows) {
      say(
        `| ${r.label} | ${r.median.toFixed(0)} | ${r.p95.toFixed(0)} | ${r.mbps ? r.mbps.toFixed(0) : '-'} | ${r.rssMiB.toFixed(0)} | ${r.failures} |`,
      );
    }
    say('pitr fetch rows run with the default prefetch (8): after the first call, sequential segments come from the spool.');
    const find = (label: string) => rows.find((r) => r.label === label)!;
    say();
    say('| ratio of medians (pitr / pgBackRest; below 1 = pitr faster) | push | fetch | fetch, not found |');
    say('|---|---:|---:|---:|');
    for (const t of ['pitr file://', 'pitr s3 (s3rver)']) {
      const ratio = (what: string) => (find(`${t} ${what}`).median / find(`pgBackRest posix ${what}`).median).toFixed(2);
      say(`| ${t} vs pgBackRest posix | ${ratio('push')} | ${ratio('fetch')} | ${ratio('fetch, not found')} |`);
    }
    say();
    say(`A backlog of ${names.length} segments drained one call at a time, in order:`);
    table(['backlog', 'first call ms', 'later calls median ms', 'amortized ms/segment', 'segments/s', 'failures'], backlog);
    const stored = spawnSync('du', ['-sb', fileRepo, join(work, 'pgbr-repo')], { encoding: 'utf8' }).stdout.trim();
    say();
    say(`repository bytes (du -sb):\n${stored}`);
  } finally {
    await cluster.stop('immediate');
    await s3.stop();
    if (!process.env.BENCH_KEEP) await rm(work, { recursive: true, force: true });
  }
}

async function freshDir(work: string, name: string): Promise<string> {
  const dir = join(work, name);
  await mkdir(dir);
  await giveToPostgres(dir);
  return dir;
}

/** A data directory as archive_command sees it: pg_control, and pg_wal with the files (marked .ready when asked). */
async function fakeDataDir(work: string, name: string, source: string, walDir: string, names: string[], ready: boolean): Promise<string> {
  const dir = join(work, name);
  await mkdir(join(dir, 'pg_wal', 'archive_status'), { recursive: true });
  await mkdir(join(dir, 'global'));
  await copyFile(join(source, 'global', 'pg_control'), join(dir, 'global', 'pg_control'));
  for (const n of names) {
    await copyFile(join(walDir, n), join(dir, 'pg_wal', n));
    if (ready) await writeFile(join(dir, 'pg_wal', 'archive_status', `${n}.ready`), '');
  }
  await giveToPostgres(dir);
  return dir;
}
