// Part 3: archive recovery of about 1 GB of WAL (pgbench -i) into a base backup taken before
// it: time from starting the server to promotion, with restore_command = pitr wal-fetch from
// file:// and from S3 (prefetch on, the default; each also encrypted to an age key), pitr with
// prefetch off, and plain `cp` from a local directory as the floor. Same WAL, same machine, same run.
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { cp } from 'node:fs/promises';
import { giveToPostgres, PITR_BIN, tempDir, waitFor } from '../harness/env.js';
import { Cluster } from '../harness/postgres.js';
import { S3Server } from '../harness/s3.js';
import { asPostgresArgs, benchAgeKey, pgbenchArgs, pitrConfText, say, table, timed } from './common.js';

export async function benchRecovery(scale: number): Promise<void> {
  const work = await tempDir('bench-recovery');
  const arch = join(work, 'arch');
  const fileRepo = join(work, 'pitr-repo');
  for (const d of [arch, fileRepo]) await mkdir(d);
  const s3 = await S3Server.start();
  const { env: s3Env } = await s3.newRepo();
  const fileConf = join(work, 'pitr-file.env');
  const s3Conf = join(work, 'pitr-s3.env');
  // Encrypted to a public key (age), the identity to read it back with.
  const s3AgeConf = join(work, 'pitr-s3-age.env');
  const fileAgeConf = join(work, 'pitr-file-age.env');
  const fileAgeRepo = join(work, 'pitr-age-repo');
  await mkdir(fileAgeRepo);
  const key = await benchAgeKey(work);
  const ageSettings = { PITR_ENCRYPT_RECIPIENTS: key.recipient, PITR_ENCRYPT_IDENTITY_FILE: key.identityFile };
  await writeFile(fileConf, `PITR_REPO=file://${fileRepo}\nPITR_LOG_LEVEL=warn\n`);
  await writeFile(s3Conf, pitrConfText(s3Env));
  await writeFile(s3AgeConf, pitrConfText({ ...(await s3.newRepo()).env, ...ageSettings }));
  await writeFile(fileAgeConf, pitrConfText({ PITR_REPO: `file://${fileAgeRepo}`, ...ageSettings }));
  await giveToPostgres(work);
  const push = (conf: string) => `${PITR_BIN} --config ${conf} wal-push %p`;
  const archive = `cp %p ${arch}/%f && ${push(fileConf)} && ${push(s3Conf)} && ${push(s3AgeConf)} && ${push(fileAgeConf)}`;
  const primary = await Cluster.create({ conf: { archive_mode: 'on', archive_command: `'${archive}'`, max_wal_size: "'4GB'" } });
  const started: Cluster[] = [];
  try {
    // Both repositories bound by hand: a push never binds an empty one once its cluster has
    // archived elsewhere (archive/archived-into.ts).
    for (const conf of [fileConf, s3Conf, s3AgeConf, fileAgeConf]) {
      const [c, a] = asPostgresArgs(PITR_BIN, ['--config', conf, 'init', '--pgdata', primary.dataDir]);
      const bound = timed(c, a, {}, '/tmp');
      if (bound.code !== 0) throw new Error(`pitr init failed: ${bound.stderr}`);
    }
    await primary.start();
    const base = await primary.baseBackup();
    const lsn0 = await primary.one<string>('SELECT pg_current_wal_lsn()::text');
    say(`pgbench -i -s ${scale} after the base backup, archived five ways (cp, pitr file://, s3, and both encrypted) ...`);
    const [c, a] = pgbenchArgs(primary.port, ['-i', '-q', '-s', String(scale)]);
    const init = timed(c, a, {}, '/tmp');
    if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    const walBytes = Number(await primary.one<string>(`SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), '${lsn0}')::text`));
    await primary.waitArchived(await primary.switchWal(), 1_800_000);
    const segments = (await readdir(arch)).filter((n) => /^[0-9A-F]{24}$/.test(n)).length;
    say(`WAL to replay: ${(walBytes / 1048576).toFixed(0)} MiB in ${segments} segments`);
    // The primary's work is done: left running, its autovacuum of the new tables competes with
    // every recovery below for the CPU, unevenly from one run to the next.
    await primary.stop('fast');

    const ways: [string, string][] = [
      ['cp from a local directory', `cp ${arch}/%f %p`],
      ['pitr wal-fetch, file://, prefetch 8', `${PITR_BIN} --config ${fileConf} wal-fetch %f %p`],
      ['pitr wal-fetch, file://, age-encrypted, prefetch 8', `${PITR_BIN} --config ${fileAgeConf} wal-fetch %f %p`],
      ['pitr wal-fetch, s3, prefetch 8', `${PITR_BIN} --config ${s3Conf} wal-fetch %f %p`],
      ['pitr wal-fetch, s3, age-encrypted, prefetch 8', `${PITR_BIN} --config ${s3AgeConf} wal-fetch %f %p`],
      ['pitr wal-fetch, s3, prefetch off', `${PITR_BIN} --config ${s3Conf} --fetch-prefetch 0 wal-fetch %f %p`],
    ];
    // BENCH_BASELINE_PITR: another checkout's bin/pitr, recovering beside this one in the same rounds (before/after a change).
    const baseline = process.env.BENCH_BASELINE_PITR;
    if (baseline) {
      ways.push(
        ['baseline pitr wal-fetch, file://, prefetch 8', `${baseline} --config ${fileConf} wal-fetch %f %p`],
        ['baseline pitr wal-fetch, s3, prefetch 8', `${baseline} --config ${s3Conf} wal-fetch %f %p`],
      );
    }
    // BENCH_ROUNDS (2) rounds, the ways in the opposite order in the second: a run's place in
    // the order moved its time by up to 2.5 s here (the first pitr way after cp was slower).
    const rounds = Math.max(1, Number(process.env.BENCH_ROUNDS ?? 2));
    const times = new Map<string, number[]>(ways.map(([label]) => [label, []]));
    for (let round = 1; round <= rounds; round++) {
      for (const [label, command] of round % 2 === 1 ? ways : [...ways].reverse()) {
        coldStart();
        const dir = join(await tempDir('bench-recover'), 'data');
        await cp(base, dir, { recursive: true });
        await giveToPostgres(dir);
        const copy = await Cluster.adopt(dir);
        await copy.prepareRecovery(command);
        const t0 = Date.now();
        started.push(copy);
        await copy.start();
        await waitFor('promotion', async () => (await copy.one<boolean>('SELECT NOT pg_is_in_recovery()')) === true, 3_600_000);
        times.get(label)!.push(Date.now() - t0);
        await copy.stop('immediate');
        await rm(dirname(dir), { recursive: true, force: true }); // its gigabyte: see coldStart()
      }
    }
    const mean = (xs: number[]) => xs.reduce((x, y) => x + y, 0) / xs.length;
    const floor = mean(times.get(ways[0]![0])!);
    say();
    table(
      [
        `archive recovery of ${(walBytes / 1048576).toFixed(0)} MiB of WAL to promotion, ${rounds} round(s)`,
        's (each round)',
        'MiB/s (mean)',
        'ratio to cp (means)',
      ],
      ways.map(([label]) => {
        const ms = times.get(label)!;
        return [
          label,
          ms.map((t) => (t / 1000).toFixed(1)).join(' / '),
          (walBytes / 1048576 / (mean(ms) / 1000)).toFixed(0),
          (mean(ms) / floor).toFixed(2),
        ];
      }),
    );
  } finally {
    for (const c of started) await c.stop('immediate');
    await primary.stop('immediate');
    await s3.stop();
  }
}

/**
 * Every run starts from the same machine state: nothing dirty (the primary's gigabyte and its
 * three archives, the last run's writes) and, where the bench may (root), nothing cached, so
 * each way reads its archive from disk as a real restore does. Measured without this: the same
 * cp recovery took 2.3-2.5 s in one run and 6.7-7.8 s in others, depending on what ran before.
 */
function coldStart(): void {
  spawnSync('sync');
  try {
    writeFileSync('/proc/sys/vm/drop_caches', '3');
  } catch {
    // not root: dirty data is flushed, the page cache stays warm for every way alike
  }
}
