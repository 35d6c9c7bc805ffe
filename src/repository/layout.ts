// Where each object lives in a repository (docs/repository-format.md). Keys are computed
// from the file name alone, so wal-fetch needs no listing. Segments are grouped by timeline
// and 4 GiB "log" in one directory level (wal/0000000100000003/...), as pgBackRest does:
// the prefix "wal/00000001" lists one timeline, "wal/0000000100000003/" one log of it,
// and one delimiter listing of "wal/" shows every timeline's logs and history files.
import type { WalFileName } from '../wal/names.js';

export const IDENTITY_KEY = 'repository.json';
export const WAL_PREFIX = 'wal/';

export function walObjectKey(file: WalFileName): string {
  if (file.kind === 'history') return `${WAL_PREFIX}${file.name}`;
  return `${walLogPrefix(file.timeline, file.log!)}${file.name}`;
}

/** The "directory" of one timeline's 4 GiB log: wal/0000000100000003/. Both parts as 8 hex digits. */
export function walLogPrefix(timeline: string, log: string): string {
  return `${WAL_PREFIX}${timeline}${log}/`;
}
