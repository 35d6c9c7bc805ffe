// Before a restore writes anything: the identity given opens what the restore will read. The
// backup's age header and those of the first and last WAL segment replay reads are unwrapped
// (ranged reads, no download), so a missing or wrong identity, or one that opens only the
// objects before a key rotation, fails in a second with one line instead of after the
// backup's download, or in the middle of recovery.
import { parseAgeHeader } from '../codec/age-header.js';
import type { KeySource } from '../codec/pipeline.js';
import { decodeHeader } from '../codec/object-format.js';
import type { BackupFile } from '../repository/backups.js';
import { walObjectKey } from '../repository/layout.js';
import { readObjectHead } from '../repository/object-head.js';
import type { Storage } from '../storage/storage.js';
import { parseWalFileName } from '../wal/names.js';

const BACKUP_HEADER_BYTES = 64 * 1024;

/** Unwraps the header of the backup's file and of `segments` (those encrypted) with `keys`; throws what keys throw. Whether any was encrypted. */
export async function checkIdentityOpens(
  storage: Storage,
  keys: KeySource,
  backupFile: BackupFile,
  segments: readonly string[],
): Promise<boolean> {
  const headers: { what: string; header: Buffer }[] = [];
  if (backupFile.encryption === 'age') {
    const what = `${storage.url}${backupFile.key}`;
    // A backup's age header holds recipient stanzas only: ~100 bytes each.
    const head = await storage.getHead(backupFile.key, BACKUP_HEADER_BYTES);
    const parsed = head && parseAgeHeader(head.bytes);
    // A missing or damaged object is the extraction's to name, with its checksum.
    if (parsed && typeof parsed !== 'string') headers.push({ what, header: head.bytes.subarray(0, parsed.length) });
  }
  for (const name of new Set(segments)) {
    const what = `archived ${name} in ${storage.url}`;
    const head = await readObjectHead(storage, walObjectKey(parseWalFileName(name)!));
    if (!head) continue;
    const { meta, headerLength } = decodeHeader(head.bytes, what);
    if (meta.encryption === 'age') headers.push({ what, header: head.bytes.subarray(0, headerLength) });
  }
  for (const { what, header } of headers) await (await keys(what)).unwrap(header, what);
  return headers.length > 0;
}
