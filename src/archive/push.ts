// Archives one WAL file (segment, .partial, .backup or .history) into the repository.
//
// The order of checks is the safety argument:
//   1. the file is what its name says (segment header address and size);
//   2. the repository is bound to this cluster (bound now if empty);
//   3. an object already under that name is compared by SHA-256 of the original bytes:
//      identical -> success without writing; different -> refuse, stored copy untouched;
//   4. the write itself is no-overwrite, so a racing writer cannot be clobbered either.
import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { compress } from '../codec/compression.js';
import { encodeObject, inspectStoredObject, MAX_HEADER_BYTES, sha256 } from '../codec/object-format.js';
import type { Compression } from '../config/config.js';
import { AlreadyExistsError, ArchiveConflictError, InputError } from '../errors.js';
import { fileIdentity, stableIdentity } from '../os/file-identity.js';
import { readSystemIdentifier } from '../pg/control-file.js';
import { assertSameCluster, bindIdentity, readIdentity, type ClusterIdentity, type RepositoryIdentity } from '../repository/identity.js';
import { walObjectKey } from '../repository/layout.js';
import type { ObjectHead, Storage } from '../storage/storage.js';
import { VERSION } from '../version.js';
import { parseWalFileName } from '../wal/names.js';
import { checkSegmentMatchesName, readSegmentHeader } from '../wal/segment-header.js';

export interface PushOptions {
  storage: Storage;
  compression: Compression;
  /** The cluster's data directory (archive_command runs there). */
  dataDir: string;
  /**
   * Also return the file's identity, taken before it is read and checked unchanged after it
   * is stored: what a look-ahead record vouches for (see os/file-identity.ts).
   */
  identity?: boolean;
  /** The repository's identity, when a long-lived caller (the archiver) has read it once. */
  repository?: RepositoryIdentity;
}

export interface PushResult {
  name: string;
  key: string;
  /**
   * 'stored': written now; 'exists': an identical copy was already archived; 'repaired': a
   * cut-off earlier write of this same file was replaced by a complete copy.
   */
  status: 'stored' | 'exists' | 'repaired';
  size: number;
  /** Of the original bytes. */
  sha256: string;
  storedBytes: number;
  boundRepository: boolean;
  /** With `identity`: the identity of the stored file, null when it changed meanwhile. */
  identity?: string | null;
}

export async function pushWalFile(path: string, opts: PushOptions): Promise<PushResult> {
  const result = await pushOne(path, opts);
  if (!opts.identity) return result;
  // Unchanged from before the read to after the store: the identity names the stored bytes.
  const before = result.identity;
  return { ...result, identity: before !== null && before === fileIdentity(resolve(path)) ? before : null };
}

async function pushOne(path: string, opts: PushOptions): Promise<PushResult> {
  const { storage } = opts;
  const name = basename(path);
  const file = parseWalFileName(name);
  if (!file) {
    throw new InputError(`${path} is not a file PostgreSQL archives (a segment, .partial, .backup or .history file): check archive_command`);
  }
  const absolute = resolve(path);
  const before = opts.identity ? await stableIdentity(absolute) : undefined;
  // One read(2) on this thread: the asynchronous readFile makes 32 round trips through the
  // thread pool for a 16 MiB segment, each waking a thread that preempts the database.
  let data: Buffer;
  try {
    data = readFileSync(absolute);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      throw new InputError(`WAL file ${absolute} does not exist: archive_command must be "pitr wal-push %p" (run from the data directory)`);
    }
    throw new InputError(`cannot read WAL file ${absolute} (${err.code ?? err.message})`, err);
  }

  // What this file says about its cluster. Segments carry it in their first page.
  let cluster: Partial<ClusterIdentity>;
  if (file.kind === 'segment' || file.kind === 'partial') {
    const header = readSegmentHeader(data, absolute);
    checkSegmentMatchesName(header, file, data.length, absolute);
    cluster = { systemIdentifier: header.systemIdentifier, pgVersion: header.pgVersion, walSegmentSize: header.segmentSize };
  } else {
    const sysid = await readSystemIdentifier(opts.dataDir);
    cluster = sysid === null ? {} : { systemIdentifier: sysid };
  }

  const key = walObjectKey(file);
  const [identity, existingHead] = await Promise.all([opts.repository ?? readIdentity(storage), storage.getHead(key, MAX_HEADER_BYTES)]);
  let boundRepository = false;
  if (identity) {
    assertSameCluster(identity, cluster, storage, absolute);
  } else {
    const full = isComplete(cluster) ? cluster : await clusterFromDataDir(opts.dataDir);
    boundRepository = (await bindIdentity(storage, full, VERSION, absolute)).created;
  }

  const digest = sha256(data);
  const result = { name, key, size: data.length, sha256: digest, boundRepository, identity: before };
  const makeObject = async () => {
    const payload = await compress(opts.compression, data);
    const payloadSha256 = payload === data ? digest : sha256(payload);
    const meta = { v: 1, name, size: data.length, sha256: digest, compression: opts.compression, payloadSize: payload.length, payloadSha256 } as const;
    return encodeObject(meta, payload);
  };
  if (existingHead) {
    if (compareStored(existingHead, digest, data.length, name, storage) === 'complete') return { ...result, status: 'exists', storedBytes: 0 };
    // A cut-off write of these very bytes: replacing it loses nothing.
    const object = await makeObject();
    await storage.put(key, object);
    return { ...result, status: 'repaired', storedBytes: object.length };
  }

  const object = await makeObject();
  try {
    await storage.put(key, object, { noOverwrite: true });
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
    // Another pusher won the race between our check and our write: compare with its copy.
    const head = await storage.getHead(key, MAX_HEADER_BYTES);
    if (head && compareStored(head, digest, data.length, name, storage) === 'complete') return { ...result, status: 'exists', storedBytes: 0 };
    throw new ArchiveConflictError(`${name} is being written to ${storage.url} by another process: PostgreSQL will retry`);
  }
  return { ...result, status: 'stored', storedBytes: object.length };
}

/**
 * Compares an existing object with the file being pushed. Returns 'complete' for an identical
 * archived copy, 'incomplete' for a cut-off write of the same bytes; throws on anything else.
 */
function compareStored(head: ObjectHead, digest: string, size: number, name: string, storage: Storage): 'complete' | 'incomplete' {
  const stored = inspectStoredObject(head, `archived ${name} in ${storage.url}`);
  const meta = stored.meta;
  if (stored.state === 'incomplete' && !meta) return 'incomplete';
  if (meta && (meta.sha256 !== digest || meta.size !== size)) {
    throw new ArchiveConflictError(
      `${name} is already archived in ${storage.url} with different content (stored sha256 ${meta.sha256.slice(0, 12)}…, ` +
        `${meta.size} bytes; this file ${digest.slice(0, 12)}…, ${size} bytes): refusing to overwrite. ` +
        'Two clusters may be archiving into one repository, or the stored copy is damaged: investigate before archiving resumes',
    );
  }
  return stored.state;
}

function isComplete(c: Partial<ClusterIdentity>): c is ClusterIdentity {
  return c.systemIdentifier !== undefined && c.pgVersion !== undefined && c.walSegmentSize !== undefined;
}

async function clusterFromDataDir(dataDir: string): Promise<ClusterIdentity> {
  const { identityFromDataDir } = await import('../pg/cluster-identity.js');
  return identityFromDataDir(dataDir);
}
