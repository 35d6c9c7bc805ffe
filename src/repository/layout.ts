// Where each object lives in a repository (docs/repository-format.md). Keys are computed
// from the file name alone, so wal-fetch needs no listing; grouping by timeline, then by
// 4 GiB "log", makes listing one timeline (or one range of it) a prefix listing.
import type { WalFileName } from '../wal/names.js';

export const IDENTITY_KEY = 'repository.json';
export const WAL_PREFIX = 'wal/';

export function walObjectKey(file: WalFileName): string {
  if (file.kind === 'history') return `${WAL_PREFIX}${file.timeline}/${file.name}`;
  return `${WAL_PREFIX}${file.timeline}/${file.log}/${file.name}`;
}
