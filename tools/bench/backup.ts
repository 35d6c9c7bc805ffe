// Part 2: backup and restore of a pgbench database of about 1 GB, and the time from a restore
// command to a promoted server after replaying a fixed amount of WAL. pitr (file:// and S3),
// pgBackRest (posix repository, lz4) and plain pg_basebackup to a local directory, in the
// same run, on the same database.
import { spawnSync } from 'node:child_process';
import { chmod, mkdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, giveToPostgres, PG_BIN, PITR_BIN, tempDir, waitFor } from '../harness/env.js';
import { Cluster } from '../harness/postgres.js';
import { S3Server } from '../harness/s3.js';
import { asPostgresArgs, benchAgeKey, pitrConfText, say, table, timed, type Sample, writePgbackrestConf } from './common.js';

const MiB = 1048576;
/** Runs of each verify (interleaved); the median is shown. */
const VERIFY_ROUNDS = 3;
/** Runs of each backup (interleaved); the median is shown. */
const BACKUP_ROUNDS = Math.max(1, Number(process.env.BENCH_BACKUP_ROUNDS ?? 3));

export async function benchBackup(scale: number): Promise<void> {
  const work = await tempDir('bench-backup');
  const sockDir = join(work, 'sock');
  const fileRepo = join(work, 'pitr-repo');
  for (const d of [sockDir, fileRepo]) await mkdir(d);
  await giveToPostgres(work);

  const cluster = await Cluster.create({
    conf: { archive_mode: 'on', archive_command: "'true'", unix_socket_directories: `'${sockDir}'`, max_wal_size: "'4GB'" },
  });
  const s3 = await S3Server.start();
  const started: Cluster[] = [];
  try {
    await cluster.start();
    const { env: s3Env } = await s3.newRepo();
    const pitrFileConf = join(work, 'pitr-file.env');
    const pitrS3Conf = join(work, 'pitr-s3.env');
    await writeFile(pitrFileConf, `PITR_REPO=file://${fileRepo}\nPITR_LOG_LEVEL=warn\n`);
    await writeFile(pitrS3Conf, pitrConfText(s3Env));
    // Encrypted: pitr to an age public key (file:// and S3), pgBackRest with its only cipher,
    // aes-256-cbc and a passphrase, in a repository of its own.
    const key = await benchAgeKey(work);
    const ageSettings = { PITR_ENCRYPT_RECIPIENTS: key.recipient, PITR_ENCRYPT_IDENTITY_FILE: key.identityFile };
    const pitrFileAgeConf = join(work, 'pitr-file-age.env');
    const pitrS3AgeConf = join(work, 'pitr-s3-age.env');
    await mkdir(join(work, 'pitr-age-repo'));
    await writeFile(pitrFileAgeConf, pitrConfText({ PITR_REPO: `file://${join(work, 'pitr-age-repo')}`, ...ageSettings }));
    await writeFile(pitrS3AgeConf, pitrConfText({ ...(await s3.newRepo()).env, ...ageSettings }));
    const pgbrConf = await writePgbackrestConf(work, cluster, sockDir, ['start-fast=y']);
    const pgbrCipherWork = join(work, 'pgbr-cipher');
    await mkdir(pgbrCipherWork);
    const pgbrCipherConf = await writePgbackrestConf(pgbrCipherWork, cluster, sockDir, [
      'start-fast=y',
      'repo1-cipher-type=aes-256-cbc',
      'repo1-cipher-pass=bench-only-passphrase-not-a-secret',
    ]);
    await giveToPostgres(work);
    for (const conf of [pitrS3Conf, pitrS3AgeConf, pitrFileAgeConf]) await chmod(conf, 0o640);

    say(`pgbench -i -s ${scale} (archiving off while loading) ...`);
    const init = runAsPg(
      join(PG_BIN, 'pgbench'),
      ['-i', '-q', '-s', String(scale), '-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', 'postgres'],
      {},
    );
    if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    // Every tool archives the WAL from here on, so each backup can wait for its own WAL. Both
    // pitr repositories are bound by hand: a push never binds an empty one once its cluster has
    // archived elsewhere (archive/archived-into.ts).
    for (const conf of [pitrFileConf, pitrS3Conf, pitrFileAgeConf, pitrS3AgeConf]) {
      const bound = runAsPg(PITR_BIN, ['--config', conf, 'init', '--pgdata', cluster.dataDir], {});
      if (bound.code !== 0) throw new Error(`pitr init failed: ${bound.stderr}`);
    }
    const archive = [
      ...[pitrFileConf, pitrS3Conf, pitrFileAgeConf, pitrS3AgeConf].map((conf) => `${PITR_BIN} --config ${conf} wal-push %p`),
      ...[pgbrConf, pgbrCipherConf].map((conf) => `pgbackrest --config ${conf} --stanza=bench archive-push %p`),
    ].join(' && ');
    await cluster.query(`ALTER SYSTEM SET archive_command = '${archive.replace(/'/g, "''")}'`);
    await cluster.query('SELECT pg_reload_conf()');
    for (const conf of [pgbrConf, pgbrCipherConf]) {
      const created = runAsPg('pgbackrest', ['--config', conf, '--stanza=bench', 'stanza-create'], {});
      if (created.code !== 0) throw new Error(`pgbackrest stanza-create failed: ${created.stdout} ${created.stderr}`);
    }
    const dbBytes = Number(await cluster.one<string>('SELECT sum(pg_database_size(oid))::text FROM pg_database'));
    say(`database: ${(dbBytes / MiB).toFixed(0)} MiB`);

    const db = { PGHOST: '127.0.0.1', PGPORT: String(cluster.port), PGUSER: 'postgres', PGDATABASE: 'postgres' };
    const basebackupRoot = await tempDir('bench-pgbb');
    let basebackupDir = '';
    const backupWays: [string, () => Sample][] = [
      ['pitr backup, file://', () => runAsPg(PITR_BIN, ['--config', pitrFileConf, 'backup'], db)],
      ['pitr backup, s3 (s3rver)', () => runAsPg(PITR_BIN, ['--config', pitrS3Conf, 'backup'], db)],
      ['pitr backup, file://, age-encrypted', () => runAsPg(PITR_BIN, ['--config', pitrFileAgeConf, 'backup'], db)],
      ['pitr backup, s3 (s3rver), age-encrypted', () => runAsPg(PITR_BIN, ['--config', pitrS3AgeConf, 'backup'], db)],
      [
        'pgBackRest backup --type=full, posix lz4',
        () => runAsPg('pgbackrest', ['--config', pgbrConf, '--stanza=bench', '--type=full', 'backup'], {}),
      ],
      [
        'pgBackRest backup --type=full, posix lz4, aes-256-cbc',
        () => runAsPg('pgbackrest', ['--config', pgbrCipherConf, '--stanza=bench', '--type=full', 'backup'], {}),
      ],
      [
        'pg_basebackup -Fp -X none to a local dir',
        () => {
          basebackupDir = join(basebackupRoot, `data-${Date.now()}`);
          return runAsPg(
            join(PG_BIN, 'pg_basebackup'),
            ['-h', '127.0.0.1', '-p', String(cluster.port), '-U', 'postgres', '-D', basebackupDir, '-X', 'none', '-c', 'fast'],
            {},
          );
        },
      ],
    ];
    // Every backup ends with WAL that the archive_command pushes to all six repositories, which
    // competes with the next backup for the two CPUs. So each backup starts once archiving is
    // idle, the ways take turns over BACKUP_ROUNDS rounds (the order rotated each round), and the
    // median run of each is shown.
    const backupRuns = backupWays.map(() => [] as Sample[]);
    for (let round = 0; round < BACKUP_ROUNDS; round++) {
      for (let k = 0; k < backupWays.length; k++) {
        const i = (k + round) % backupWays.length;
        const [label, run] = backupWays[i]!;
        await waitArchiveIdle(cluster);
        const s = run();
        if (s.code !== 0) throw new Error(`${label} failed: ${s.stderr.slice(-500)}`);
        backupRuns[i]!.push(s);
      }
      if (round < BACKUP_ROUNDS - 1) await rm(basebackupDir, { recursive: true, force: true });
    }
    const backups: [string, Sample, Sample[]][] = backupWays.map(([label], i) => [label, medianRun(backupRuns[i]!), backupRuns[i]!]);

    // A fixed amount of WAL after the backups, replayed by every restore below.
    const lsnBefore = await cluster.one<string>('SELECT pg_current_wal_lsn()::text');
    await cluster.query(`UPDATE pgbench_accounts SET abalance = abalance + 1 WHERE aid <= ${scale * 15_000}`);
    const walBytes = Number(await cluster.one<string>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${lsnBefore}')::text`));
    await cluster.waitArchived(await cluster.switchWal(), 600_000);
    say(`WAL to replay after the backups: ${(walBytes / MiB).toFixed(0)} MiB`);

    // Restore only: files in place with the recovery configuration, no server started.
    const target = async () => join(await tempDir('bench-restore'), 'data');
    // pgBackRest restores into an existing directory.
    const emptyDir = async () => {
      const dir = await target();
      await mkdir(dir, { mode: 0o700 });
      await giveToPostgres(dir);
      return dir;
    };
    const restores: [string, Sample][] = [
      [
        'pitr restore --immediate, file://',
        runAsPg(PITR_BIN, ['--config', pitrFileConf, 'restore', '--immediate', '--target-dir', await target()], {}),
      ],
      [
        'pitr restore --immediate, s3',
        runAsPg(PITR_BIN, ['--config', pitrS3Conf, 'restore', '--immediate', '--target-dir', await target()], {}),
      ],
      [
        'pgBackRest restore --type=immediate',
        runAsPg(
          'pgbackrest',
          ['--config', pgbrConf, '--stanza=bench', '--type=immediate', `--pg1-path=${await emptyDir()}`, 'restore'],
          {},
        ),
      ],
    ];
    for (const [label, s] of restores) if (s.code !== 0) throw new Error(`${label} failed: ${s.stderr.slice(-500)}`);

    // From the restore command to a promoted server that replayed the WAL above.
    const promoted: [string, Sample, number][] = [];
    for (const [label, conf] of [
      ['pitr restore --latest --start, file://', pitrFileConf],
      ['pitr restore --latest --start, s3', pitrS3Conf],
      ['pitr restore --latest --start, s3, age-encrypted', pitrS3AgeConf],
    ] as const) {
      const port = await freePort();
      const dir = await target();
      const s = runAsPg(
        PITR_BIN,
        ['--config', conf, 'restore', '--latest', '--start', '--archive-mode', 'off', '--port', String(port), '--target-dir', dir],
        {},
      );
      if (s.code !== 0) throw new Error(`${label} failed: ${s.stderr.slice(-500)}`);
      started.push(Cluster.existing(dir, port));
      promoted.push([label, s, s.ms]);
    }
    {
      const port = await freePort();
      const dir = await target();
      const t0 = Date.now();
      await mkdir(dir, { mode: 0o700 });
      await giveToPostgres(dir);
      const s = runAsPg('pgbackrest', ['--config', pgbrConf, '--stanza=bench', '--archive-mode=off', `--pg1-path=${dir}`, 'restore'], {});
      if (s.code !== 0) throw new Error(`pgBackRest restore failed: ${s.stderr.slice(-500)}`);
      const server = Cluster.existing(dir, port);
      const start = runAsPg(
        join(PG_BIN, 'pg_ctl'),
        ['-D', dir, '-l', join(dir, 'startup.log'), '-o', `-p ${port} -c unix_socket_directories=''`, '-W', 'start'],
        {},
      );
      if (start.code !== 0) throw new Error(`starting the pgBackRest restore failed: ${start.stderr}`);
      started.push(server);
      await waitFor(
        'pgBackRest restore promoted',
        async () => (await server.one<boolean>('SELECT NOT pg_is_in_recovery()')) === true,
        1_800_000,
      );
      promoted.push(['pgBackRest restore + pg_ctl start', s, Date.now() - t0]);
    }
    // pitr restore-test: the same restore into a throwaway server, its RTO (start to a server
    // answering) as it reports it, and the whole run with pg_amcheck of every database.
    const restoreTests: [string, Sample, number][] = [];
    for (const [label, conf] of [
      ['pitr restore-test --latest, file://', pitrFileConf],
      ['pitr restore-test --latest, s3', pitrS3Conf],
    ] as const) {
      const s = runAsPg(PITR_BIN, ['--config', conf, '--json', 'restore-test', '--latest'], {});
      if (s.code !== 0) throw new Error(`${label} failed (exit ${s.code}): ${s.stdout.slice(0, 500)} ${s.stderr.slice(-500)}`);
      restoreTests.push([label, s, (JSON.parse(s.stdout) as { rtoSeconds: number }).rtoSeconds]);
    }

    // verify of each whole repository: the 1 GB backup and all the WAL archived above. pitr
    // reports the bytes it read; pgBackRest's are its repository's size (it reads every file in
    // it). pgBackRest's verify decompresses what it reads (its checksums are of the original
    // files); pitr's hashes the stored bytes. pgBackRest exits 0 whatever it finds: the status
    // its --output=text --verbose summary gives is shown. Each takes about a second, so the three
    // run interleaved, VERIFY_ROUNDS times, and the median run of each is shown.
    const pitrVerify = (label: string, conf: string) => (): VerifyRun => {
      const s = runAsPg(PITR_BIN, ['--config', conf, 'verify', '--json'], {});
      if (s.code !== 0) throw new Error(`${label} failed (exit ${s.code}): ${s.stdout.slice(0, 500)} ${s.stderr.slice(-500)}`);
      return { s, bytes: (JSON.parse(s.stdout) as { objects: { bytes: number } }).objects.bytes };
    };
    const pgbrVerify = (): VerifyRun => {
      const s = runAsPg('pgbackrest', ['--config', pgbrConf, '--stanza=bench', '--output=text', '--verbose', 'verify'], {});
      const status = /status: (.*)/.exec(s.stdout)?.[1] ?? `exit ${s.code}`;
      const bytes = Number(spawnSync('du', ['-sb', join(work, 'pgbr-repo')], { encoding: 'utf8' }).stdout.split('\t')[0]);
      return { s, bytes, status };
    };
    const verifyWays: [string, () => VerifyRun][] = [
      ['pitr verify, file://', pitrVerify('pitr verify, file://', pitrFileConf)],
      ['pitr verify, s3', pitrVerify('pitr verify, s3', pitrS3Conf)],
      ['pgBackRest verify', pgbrVerify],
    ];
    const verifyRuns = verifyWays.map(() => [] as VerifyRun[]);
    for (let round = 0; round < VERIFY_ROUNDS; round++) for (const [i, [, run]] of verifyWays.entries()) verifyRuns[i]!.push(run());
    const verifies: [string, Sample, number][] = verifyWays.map(([label], i) => {
      const runs = verifyRuns[i]!;
      const median = runs.find((r) => r.s === medianRun(runs.map((v) => v.s)))!;
      const statuses = [...new Set(runs.map((r) => r.status).filter((x) => x !== undefined))];
      return [statuses.length > 0 ? `${label} (status: ${statuses.join(', ')})` : label, median.s, median.bytes];
    });

    const mbps = (ms: number) => (dbBytes / MiB / (ms / 1000)).toFixed(0);
    const rss = (s: Sample) => (s.rssKiB / 1024).toFixed(0);
    say();
    table(
      [`backup of ${(dbBytes / MiB).toFixed(0)} MiB, median of ${BACKUP_ROUNDS}`, 's (each round)', 'MiB/s (median)', 'peak RSS MiB'],
      backups.map(([label, s, runs]) => [label, runs.map((r) => (r.ms / 1000).toFixed(1)).join(' / '), mbps(s.ms), rss(s)]),
    );
    say();
    table(
      ['restore (files + recovery settings)', 's', 'MiB/s', 'peak RSS MiB'],
      restores.map(([label, s]) => [label, (s.ms / 1000).toFixed(1), mbps(s.ms), rss(s)]),
    );
    say();
    table(
      [`restore to a promoted server, ${(walBytes / MiB).toFixed(0)} MiB of WAL replayed`, 's'],
      promoted.map(([label, , ms]) => [label, (ms / 1000).toFixed(1)]),
    );
    say();
    const pgbrPromoted = promoted.find(([l]) => l.startsWith('pgBackRest'))![2] / 1000;
    table(
      [
        `restore-test, ${(walBytes / MiB).toFixed(0)} MiB of WAL replayed`,
        'RTO s (reported)',
        'whole run s (with pg_amcheck)',
        'RTO / pgBackRest restore + start',
      ],
      restoreTests.map(([label, s, rto]) => [label, rto.toFixed(1), (s.ms / 1000).toFixed(1), (rto / pgbrPromoted).toFixed(2)]),
    );
    say();
    const throughput = ([, s, bytes]: [string, Sample, number]) => bytes / MiB / (s.ms / 1000);
    const pgbrThroughput = throughput(verifies.at(-1)!);
    table(
      [`verify of the whole repository (median of ${VERIFY_ROUNDS})`, 'MiB read', 's', 'MiB/s', 'MiB/s vs pgBackRest', 'peak RSS MiB'],
      verifies.map((v) => [
        v[0],
        (v[2] / MiB).toFixed(0),
        (v[1].ms / 1000).toFixed(2),
        throughput(v).toFixed(0),
        (throughput(v) / pgbrThroughput).toFixed(2),
        rss(v[1]),
      ]),
    );
    const find = <T extends [string, ...unknown[]]>(rows: T[], prefix: string) => rows.find(([l]) => l.startsWith(prefix))!;
    const ratio = (a: number, b: number) => (a / b).toFixed(2);
    say();
    table(
      ['ratio of times (below 1 = pitr faster)', 'vs pgBackRest', 'vs pg_basebackup'],
      [
        [
          'backup, file://',
          ratio(find(backups, 'pitr backup, file')[1].ms, find(backups, 'pgBackRest')[1].ms),
          ratio(find(backups, 'pitr backup, file')[1].ms, find(backups, 'pg_basebackup')[1].ms),
        ],
        [
          'backup, s3',
          ratio(find(backups, 'pitr backup, s3')[1].ms, find(backups, 'pgBackRest')[1].ms),
          ratio(find(backups, 'pitr backup, s3')[1].ms, find(backups, 'pg_basebackup')[1].ms),
        ],
        [
          'backup, file://, age-encrypted (vs pgBackRest aes-256-cbc)',
          ratio(find(backups, 'pitr backup, file://, age')[1].ms, find(backups, 'pgBackRest backup --type=full, posix lz4, aes')[1].ms),
          '-',
        ],
        [
          'backup, s3, age-encrypted (vs pgBackRest aes-256-cbc)',
          ratio(find(backups, 'pitr backup, s3 (s3rver), age')[1].ms, find(backups, 'pgBackRest backup --type=full, posix lz4, aes')[1].ms),
          '-',
        ],
        ['restore, file://', ratio(find(restores, 'pitr restore --immediate, file')[1].ms, find(restores, 'pgBackRest')[1].ms), '-'],
        ['restore, s3', ratio(find(restores, 'pitr restore --immediate, s3')[1].ms, find(restores, 'pgBackRest')[1].ms), '-'],
        ['to promoted, file://', ratio(find(promoted, 'pitr restore --latest --start, file')[2], find(promoted, 'pgBackRest')[2]), '-'],
        ['to promoted, s3', ratio(find(promoted, 'pitr restore --latest --start, s3')[2], find(promoted, 'pgBackRest')[2]), '-'],
      ],
    );
    say();
    table(
      ['encrypted backup MiB/s / unencrypted (target >= 0.8)', 'ratio'],
      [
        ['file://', ratio(find(backups, 'pitr backup, file://')[1].ms, find(backups, 'pitr backup, file://, age')[1].ms)],
        ['s3', ratio(find(backups, 'pitr backup, s3 (s3rver)')[1].ms, find(backups, 'pitr backup, s3 (s3rver), age')[1].ms)],
      ],
    );
    const stored = spawnSync('du', ['-sb', join(fileRepo, 'backups'), join(work, 'pgbr-repo', 'backup'), basebackupDir], {
      encoding: 'utf8',
    }).stdout.trim();
    say();
    say(`backup bytes (du -sb; pitr and pgBackRest hold ${BACKUP_ROUNDS} backups each, pg_basebackup's last copy):\n${stored}`);
  } finally {
    for (const server of started) await server.stop('immediate');
    await cluster.stop('immediate');
    await s3.stop();
    if (!process.env.BENCH_KEEP) await rm(work, { recursive: true, force: true });
  }
}

/** The run of median wall time (the lower middle one of an even count). */
function medianRun(runs: Sample[]): Sample {
  const sorted = [...runs].sort((a, b) => a.ms - b.ms);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

/** Until PostgreSQL has no segment waiting for its archive_command. */
async function waitArchiveIdle(cluster: Cluster): Promise<void> {
  await waitFor(
    'archiving idle',
    async () => (await cluster.one<string>("SELECT count(*)::text FROM pg_ls_archive_statusdir() WHERE name LIKE '%.ready'")) === '0',
    600_000,
  );
}

interface VerifyRun {
  s: Sample;
  bytes: number;
  /** pgBackRest's own verdict (it exits 0 whatever it finds). */
  status?: string;
}

function runAsPg(cmd: string, args: string[], env: Record<string, string>): Sample {
  const [c, a] = asPostgresArgs(cmd, args);
  return timed(c, a, env, '/tmp');
}
