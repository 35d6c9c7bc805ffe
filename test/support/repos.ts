// Repository fixtures: a file:// directory or an s3rver bucket, plus a config file the
// postgres user can read, so archive_command/restore_command use `--config` like production.
import { writeFile, chmod, chown } from 'node:fs/promises';
import { join } from 'node:path';
import { AS_ROOT, PITR_BIN, tempDir } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import type { S3Store } from '../../tools/harness/s3.js';

export interface RepoFixture {
  kind: 'file' | 's3';
  /** Environment that points pitr at the repository. */
  env: Record<string, string>;
  /** A dotenv config file with the same settings. */
  configFile: string;
  /** For file:// repositories, the directory. */
  dir?: string;
  bucket?: string;
  archiveCommand: string;
  restoreCommand: string;
}

/** A file:// repository: a fresh directory, or `at`, a path not created yet (pitr init's to create). */
export async function fileRepo(at?: string): Promise<RepoFixture> {
  // The directory exists, as a mounted volume would: wal-push never creates a repository root.
  const dir = at ?? (await tempDir('repo'));
  return finish('file', { PITR_REPO: `file://${dir}` }, { dir });
}

/**
 * An s3rver bucket. s3rver keeps the part of an interrupted upload under its key, as some
 * S3-compatible stores do: `keepsCutOffUploads` tells pitr so (PITR_S3_ATOMIC_WRITES=false),
 * for the tests of what such an object does; the others run with the default, as on AWS S3.
 */
export async function s3Repo(server: S3Store, options: { keepsCutOffUploads?: boolean } = {}): Promise<RepoFixture> {
  const { bucket, env } = await server.newRepo();
  return finish('s3', options.keepsCutOffUploads ? { ...env, PITR_S3_ATOMIC_WRITES: 'false' } : env, { bucket });
}

async function finish(kind: 'file' | 's3', env: Record<string, string>, extra: Partial<RepoFixture>): Promise<RepoFixture> {
  const configDir = await tempDir('conf');
  const configFile = join(configDir, 'pitr.env');
  const text = Object.entries(env)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
  await writeFile(configFile, `# written by the test harness\n${text}\n`);
  await chmod(configFile, 0o640);
  if (AS_ROOT) await chown(configFile, 0, Number((await import('node:child_process')).execSync('id -g postgres').toString()));
  return {
    kind,
    env,
    configFile,
    ...extra,
    // At info, not their quiet default: tests read what each call did in the server's log.
    archiveCommand: `${PITR_BIN} --config ${configFile} --log-level info wal-push %p`,
    restoreCommand: `${PITR_BIN} --config ${configFile} --log-level info wal-fetch %f %p`,
  };
}

/** postgresql.conf settings that archive into `repo` through bin/pitr. */
export function archivingInto(repo: RepoFixture): Record<string, string> {
  return { archive_mode: 'on', archive_command: `'${repo.archiveCommand}'` };
}

/** Reads a stored object's raw bytes straight from the store (null when absent). */
export async function readStored(repo: RepoFixture, server: S3Store | undefined, key: string): Promise<Buffer | null> {
  if (repo.kind === 'file') {
    const { readFile } = await import('node:fs/promises');
    return readFile(join(repo.dir!, key)).catch(() => null);
  }
  const { GetObjectCommand } = await import('@aws-sdk/client-s3');
  try {
    const res = await server!.client().send(new GetObjectCommand({ Bucket: repo.bucket, Key: `main/${key}` }));
    return Buffer.from(await res.Body!.transformToByteArray());
  } catch {
    return null;
  }
}

/** Replaces a stored object's bytes behind pitr's back (to simulate corruption). */
export async function writeStored(repo: RepoFixture, server: S3Store | undefined, key: string, body: Buffer): Promise<void> {
  if (repo.kind === 'file') {
    const { writeFile } = await import('node:fs/promises');
    await writeFile(join(repo.dir!, key), body);
    return;
  }
  const { PutObjectCommand } = await import('@aws-sdk/client-s3');
  await server!.client().send(new PutObjectCommand({ Bucket: repo.bucket, Key: `main/${key}`, Body: body }));
}

/** A running cluster archiving through bin/pitr into `repo`, and the environment that points pitr at both. */
export async function archivingCluster(repo: RepoFixture): Promise<{ cluster: Cluster; env: Record<string, string> }> {
  const cluster = await Cluster.create({ conf: archivingInto(repo) });
  await cluster.start();
  return { cluster, env: { ...repo.env, ...cluster.libpqEnv } };
}
