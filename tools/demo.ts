// `npm run demo`: the main job on the embedded default, end to end, in about half a minute.
// A throwaway PostgreSQL cluster archives through `pitr wal-push` into a file:// repository,
// then a copy made from a base backup recovers purely through `pitr wal-fetch`, and the row
// counts are compared. Everything lives in one temporary directory, removed at the end
// (pass --keep to look around).
import { rm, mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { giveToPostgres, pitr, PITR_BIN, tempDir, waitFor } from './harness/env.js';
import { Cluster } from './harness/postgres.js';

const keep = process.argv.includes('--keep');
const say = (line: string) => process.stdout.write(`${line}\n`);
const started = Date.now();
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`;

const work = await tempDir('demo');
const repoDir = join(work, 'repo');
const configFile = join(work, 'pitr.env');
await mkdir(repoDir);
await writeFile(configFile, `# pitr demo configuration (dotenv; also usable as a systemd EnvironmentFile)\nPITR_REPO=file://${repoDir}\nPITR_LOG_LEVEL=warn\n`);
await giveToPostgres(work);
const env = { PITR_CONFIG: configFile };

say(`pitr demo: everything under ${work}`);
const primary = await Cluster.create({ conf: { archive_mode: 'on', archive_command: `'${PITR_BIN} --config ${configFile} wal-push %p'` } });
let restored: Cluster | undefined;
try {
  await primary.start();
  say(`[${elapsed()}] primary cluster started on port ${primary.port}, archive_command = pitr wal-push %p`);
  const init = await pitr(['init', '--pgdata', primary.dataDir], { env });
  say(`[${elapsed()}] pitr init: ${init.stdout.trim()}`);

  await primary.query('CREATE TABLE orders (id bigint PRIMARY KEY, placed_at timestamptz DEFAULT now(), note text)');
  await primary.query("INSERT INTO orders (id, note) SELECT g, 'before the base backup' FROM generate_series(1, 1000) g");
  const backupDir = await primary.baseBackup();
  say(`[${elapsed()}] base backup taken with pg_basebackup (no WAL inside: recovery must fetch it all from pitr)`);

  for (let round = 1; round <= 8; round++) {
    await primary.query(
      "INSERT INTO orders (id, note) SELECT g, repeat('x', 200) FROM generate_series($1::bigint, $2::bigint) g",
      [round * 100_000, round * 100_000 + 19_999],
    );
    const segment = await primary.switchWal();
    await primary.waitArchived(segment);
    say(`[${elapsed()}] wrote 20,000 orders, segment ${segment} archived`);
  }
  const rows = await primary.one<string>('SELECT count(*)::text FROM orders');

  const status = await pitr(['status'], { env });
  say(`\n$ pitr status\n${status.stdout}`);

  restored = await Cluster.adopt(backupDir);
  await restored.prepareRecovery(`${PITR_BIN} --config ${configFile} wal-fetch %f %p`);
  const recoveryStart = Date.now();
  await restored.start();
  const copy = restored;
  await waitFor('recovery to finish', async () => (await copy.one<boolean>('SELECT pg_is_in_recovery()')) === false, 300_000);
  const restoredRows = await copy.one<string>('SELECT count(*)::text FROM orders');
  say(`[${elapsed()}] restored copy replayed the archive through pitr wal-fetch in ${((Date.now() - recoveryStart) / 1000).toFixed(1)} s and promoted`);
  say(`orders on the primary: ${rows}; on the restored copy: ${restoredRows} -> ${rows === restoredRows ? 'identical' : 'DIFFERENT'}`);
  if (rows !== restoredRows) process.exitCode = 1;
} finally {
  await restored?.stop('immediate');
  await primary.stop('immediate');
  if (keep) say(`kept ${work}`);
  else await rm(work, { recursive: true, force: true });
}
