// A data directory as archive_command sees it, without a server: pg_control, and pg_wal with
// real segments, each marked .ready; and what the resident archiver leaves in it.
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { processAlive } from '../../src/os/process.js';
import { giveToPostgres, tempDir, waitFor } from '../../tools/harness/env.js';
import type { SegmentSource } from './segments.js';

/**
 * pg_control and the segments of `source`, each marked ready. With `serverRuns`, a
 * postmaster.pid naming this (live) process: the archiver stays while a server runs, and
 * its records answer only while it does.
 */
export async function fakeDataDir(source: SegmentSource, options: { serverRuns?: boolean } = {}): Promise<string> {
  const dir = await tempDir('datadir');
  await mkdir(join(dir, 'pg_wal', 'archive_status'), { recursive: true });
  await mkdir(join(dir, 'global'));
  await copyFile(join(source.cluster.dataDir, 'global', 'pg_control'), join(dir, 'global', 'pg_control'));
  for (const path of source.segments) {
    await copyFile(path, join(dir, 'pg_wal', basename(path)));
    await writeFile(join(dir, 'pg_wal', 'archive_status', `${basename(path)}.ready`), '');
  }
  if (options.serverRuns) await writeFile(join(dir, 'postmaster.pid'), `${process.pid}\n${dir}\n${Math.floor(Date.now() / 1000)}\n`);
  await giveToPostgres(dir);
  return dir;
}

export const archiverPid = async (dir: string) =>
  Number((await readFile(join(dir, 'pg_wal', 'pitr', 'archiver.pid'), 'utf8').catch(() => '0')).split(' ')[0]);

/** Waits for the archiver started in `dir`, if it has started, to have exited: done and idle, or killed. */
export async function archiverGone(dir: string): Promise<void> {
  await waitFor('the archiver to exit', async () => {
    const pid = await archiverPid(dir);
    return pid === 0 || !processAlive(pid);
  });
}

/** Names the archiver holds records for. */
export const records = async (dir: string) =>
  (await readdir(join(dir, 'pg_wal', 'pitr', 'archived')).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).sort();
