// Parses a repository URL and opens its driver. The S3 driver (and with it the AWS SDK) is
// imported only for s3:// repositories.
import { isAbsolute, normalize } from 'node:path';
import type { Config } from '../config/config.js';
import { ConfigError } from '../errors.js';
import type { StorageUser } from './crash-injection.js';
import type { Storage } from './storage.js';

export type RepoLocation = { kind: 'file'; path: string } | { kind: 's3'; bucket: string; prefix: string };

export function parseRepoUrl(url: string | undefined): RepoLocation {
  if (!url) {
    throw new ConfigError('no repository: set PITR_REPO or pass --repo (file:///abs/path or s3://bucket/prefix)');
  }
  if (url.startsWith('file://')) {
    const path = decodeURIComponent(url.slice('file://'.length));
    if (!isAbsolute(path)) throw new ConfigError(`PITR_REPO (--repo) "${url}" must name an absolute path: file:///abs/path`);
    return { kind: 'file', path: normalize(path).replace(/(.)\/$/, '$1') };
  }
  if (url.startsWith('s3://')) {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    if (!/^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$/.test(bucket)) {
      throw new ConfigError(`PITR_REPO (--repo) "${url}" has an invalid bucket name "${bucket}"`);
    }
    return { kind: 's3', bucket, prefix };
  }
  throw new ConfigError(`PITR_REPO (--repo) "${url}" is not a repository URL: use file:///abs/path or s3://bucket/prefix`);
}

export interface OpenOptions {
  /** file://: create the root directory when missing (`pitr init` only). */
  create?: boolean;
  /** file://, run as root: who gets the directories `create` makes (see FileStorage.open). */
  newOwner?: { uid: number; gid: number } | null;
  /** Which process opens it: PITR_TEST_CRASH modes aim at one (storage/crash-injection.ts). */
  user?: StorageUser;
}

export async function openStorage(config: Config, options: OpenOptions = {}): Promise<Storage> {
  const storage = await openDriver(config, options);
  const crash = process.env.PITR_TEST_CRASH;
  if (!crash) return storage;
  const { withInjectedCrash } = await import('./crash-injection.js');
  return withInjectedCrash(storage, crash, options.user ?? 'command');
}

async function openDriver(config: Config, options: OpenOptions): Promise<Storage> {
  const location = parseRepoUrl(config.repo);
  if (location.kind === 'file') {
    const { FileStorage } = await import('./file.js');
    return FileStorage.open(location.path, options.create ?? false, options.newOwner ?? null);
  }
  const { S3Storage } = await import('./s3.js');
  return new S3Storage(location.bucket, location.prefix, config.s3);
}
