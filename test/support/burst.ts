// A burst of archived segments after a base backup, and a copy of that backup recovering
// through them: what the look-ahead and the prefetch spool are measured on.
import { waitFor } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';

/** A base backup, then `count` segments of 500 rows each into a new table t, switched and archived. */
export async function backupThenBurst(primary: Cluster, count = 30): Promise<{ backupDir: string; last: string }> {
  await primary.query('CREATE TABLE t (id int)');
  const backupDir = await primary.baseBackup();
  let last = '';
  for (let i = 1; i <= count; i++) {
    await primary.query('INSERT INTO t SELECT generate_series(1, 500)');
    last = await primary.switchWal();
  }
  await primary.waitArchived(last);
  return { backupDir, last };
}

/** The backup in `backupDir` started with `restoreCommand`, once it has promoted; the caller stops it. */
export async function recoverCopy(backupDir: string, restoreCommand: string): Promise<Cluster> {
  const copy = await Cluster.adopt(backupDir);
  await copy.prepareRecovery(restoreCommand);
  await copy.start();
  await waitFor('recovery to finish', async () => (await copy.one<boolean>('SELECT pg_is_in_recovery()')) === false, 300_000);
  return copy;
}
