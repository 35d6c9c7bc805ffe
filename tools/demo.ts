// `npm run demo`: the main job on the embedded default, end to end, in about half a minute.
// A throwaway PostgreSQL cluster archives through `pitr wal-push` into a file:// repository,
// `pitr backup` takes a base backup, rows are written, a table is dropped by mistake, and
// `pitr restore --to <just before the drop> --start` brings the rows back. Everything lives in one temporary directory, removed at the end
// (pass --keep to look around).
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { freePort, giveToPostgres, makeTempRoot, pitr, PITR_BIN, removeTempRoot } from './harness/env.js';
import { Cluster } from './harness/postgres.js';

const keep = process.argv.includes('--keep');
const say = (line: string) => process.stdout.write(`${line}\n`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

const work = await makeTempRoot('demo'); // every directory below, the cluster's too
const repoDir = join(work, 'repo');
const configFile = join(work, 'pitr.env');
await mkdir(repoDir);
await writeFile(
  configFile,
  `# pitr demo configuration (dotenv; also usable as a systemd EnvironmentFile)\nPITR_REPO=file://${repoDir}\nPITR_LOG_LEVEL=warn\n`,
);
await giveToPostgres(work);
const env = { PITR_CONFIG: configFile };

say(`pitr demo: everything under ${work}`);
const primary = await Cluster.create({ conf: { archive_mode: 'on', archive_command: `'${PITR_BIN} --config ${configFile} wal-push %p'` } });
const dbEnv = { ...env, PGHOST: '127.0.0.1', PGPORT: String(primary.port), PGUSER: 'postgres', PGDATABASE: 'postgres' };
let restored: Cluster | undefined;
try {
  await primary.start();
  say(`[${elapsed()}] primary cluster started on port ${primary.port}, archive_command = pitr wal-push %p`);
  const init = await pitr(['init', '--pgdata', primary.dataDir], { env });
  say(`[${elapsed()}] pitr init: ${init.stdout.trim()}`);

  await primary.query('CREATE TABLE orders (id bigint PRIMARY KEY, placed_at timestamptz DEFAULT now(), note text)');
  await primary.query("INSERT INTO orders (id, note) SELECT g, 'before the base backup' FROM generate_series(1, 1000) g");
  const backup = await pitr(['backup'], { env: dbEnv });
  if (backup.exitCode !== 0) throw new Error(`pitr backup failed: ${backup.stderr}`);
  say(`[${elapsed()}] $ pitr backup\n${backup.stdout.trim()}`);

  for (let round = 1; round <= 8; round++) {
    await primary.query("INSERT INTO orders (id, note) SELECT g, repeat('x', 200) FROM generate_series($1::bigint, $2::bigint) g", [
      round * 100_000,
      round * 100_000 + 19_999,
    ]);
    const segment = await primary.switchWal();
    await primary.waitArchived(segment);
    say(`[${elapsed()}] wrote 20,000 orders, segment ${segment} archived`);
  }
  const rows = await primary.one<string>('SELECT count(*)::text FROM orders');
  const beforeDrop = await primary.one<string>("SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'");
  await primary.query('DROP TABLE orders');
  await primary.waitArchived(await primary.switchWal());
  say(`[${elapsed()}] oops: DROP TABLE orders (${rows} rows) just after ${beforeDrop}`);

  const list = await pitr(['list'], { env });
  say(`\n$ pitr list\n${list.stdout}`);

  const target = join(work, 'restored');
  const port = await freePort();
  say(`$ pitr restore --to "${beforeDrop}" --target-dir ${target} --start --port ${port}`);
  const res = await pitr(
    ['restore', '--to', beforeDrop, '--target-dir', target, '--start', '--port', String(port), '--archive-mode', 'off'],
    { env },
  );
  if (res.exitCode !== 0) throw new Error(`pitr restore failed: ${res.stderr}`);
  say(res.stdout);
  restored = Cluster.existing(target, port);
  const restoredRows = await restored.one<string>('SELECT count(*)::text FROM orders');
  say(
    `[${elapsed()}] orders before the DROP: ${rows}; on the restored server: ${restoredRows} -> ${rows === restoredRows ? 'identical' : 'DIFFERENT'}`,
  );
  if (rows !== restoredRows) process.exitCode = 1;
} finally {
  await restored?.stop('immediate');
  await primary.stop('immediate');
  if (keep) say(`kept ${work}`);
  else await removeTempRoot(work);
}
