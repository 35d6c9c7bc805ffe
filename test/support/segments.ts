// Real WAL files for CLI-level tests: a cluster archiving with plain `cp`, so each file is
// exactly what PostgreSQL hands archive_command.
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';

export interface SegmentSource {
  cluster: Cluster;
  /** Directory holding the copied files. */
  dir: string;
  /** Paths of complete segments, oldest first. */
  segments: string[];
}

export async function makeSegments(count: number): Promise<SegmentSource> {
  const dir = await tempDir('segments');
  const cluster = await Cluster.create({ conf: { archive_mode: 'on', archive_command: `'cp %p ${dir}/%f'` } });
  await cluster.start();
  await cluster.query('CREATE TABLE t (id int)');
  let last = '';
  for (let i = 0; i < count; i++) {
    await cluster.query('INSERT INTO t SELECT generate_series(1, 1000)');
    last = await cluster.switchWal();
  }
  await cluster.waitArchived(last);
  const segments = (await readdir(dir))
    .filter((n) => /^[0-9A-F]{24}$/.test(n))
    .sort()
    .map((n) => join(dir, n));
  return { cluster, dir, segments };
}
