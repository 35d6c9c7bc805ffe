// Archives one WAL file (segment, .partial, .backup or .history) into the repository.
//
// The order of checks is the safety argument:
//   1. the file is what its name says (segment header address and size);
//   2. the repository is bound to this cluster (bound now if empty);
//   2b. it is encrypted to exactly the recipients the repository records, or neither encrypts
//       (what this push writes: an identical copy found in step 3 keeps the recipients, or
//       the clear form, it was stored with before a change of recipients);
//   3. an object already under that name is compared with the file (sameContent):
//      identical -> success without writing; different -> refuse, stored copy untouched;
//   4. the write itself is no-overwrite, so a racing writer cannot be clobbered either.
import { closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { compress } from '../codec/compression.js';
import { sealObject, type KeySource, type SealedObject } from '../codec/pipeline.js';
import { inspectStoredObject, sha256, type ObjectMeta, type StoredState } from '../codec/object-format.js';
import { identityKeys } from '../codec/age-keys.js';
import type { Compression, Config } from '../config/config.js';
import { AlreadyExistsError, ArchiveConflictError, InputError } from '../errors.js';
import type { BufferPool } from '../os/buffer-pool.js';
import { fileIdentity, stableIdentity } from '../os/file-identity.js';
import { readSystemIdentifier } from '../pg/control-file.js';
import {
  assertSameCluster,
  assertSameRecipients,
  bindIdentity,
  readIdentity,
  type ClusterIdentity,
  type RepositoryIdentity,
} from '../repository/identity.js';
import { readObjectHead } from '../repository/object-head.js';
import { walObjectKey } from '../repository/layout.js';
import type { ObjectHead, Storage } from '../storage/storage.js';
import { VERSION } from '../version.js';
import { parseWalFileName, type WalFileName } from '../wal/names.js';
import { checkSegmentMatchesName, readSegmentHeader } from '../wal/segment-header.js';
import { scanTransactionEnds, type TransactionEnds } from '../wal/transaction-ends.js';
import { assertMayBind } from './archived-into.js';
import { readArchivedFile } from '../repository/archived-file.js';

export interface PushOptions {
  storage: Storage;
  compression: Compression;
  /** Encrypt to these age recipients (the repository must record exactly these); absent: in the clear. */
  recipients?: readonly string[];
  /**
   * Identities, when this host has them: the one way to compare a file pushed again with an
   * encrypted copy that was compressed otherwise (sameContent). Hosts that only archive have none.
   */
  keys?: KeySource;
  /** The cluster's data directory (archive_command runs there). */
  dataDir: string;
  /**
   * Also return the file's identity, taken before it is read and checked unchanged after it
   * is stored: what a look-ahead record vouches for (see os/file-identity.ts).
   */
  identity?: boolean;
  /** The repository's identity, when a long-lived caller (the archiver) has read it once. */
  repository?: RepositoryIdentity;
  /** Buffers to read files into, for a caller that pushes many (the archiver). */
  pool?: BufferPool;
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
  /** SHA-256 of the payload as stored (this call's; an identical copy found may differ). */
  payloadSha256: string;
  storedBytes: number;
  boundRepository: boolean;
  /** The id of the repository it is stored in (repository/identity.ts). */
  repositoryId: string;
  /** With `identity`: the identity of the stored file, null when it changed meanwhile. */
  identity?: string | null;
}

/** How this configuration stores what it pushes: compression, recipients, and the identity to compare re-pushes with. */
export function pushForm(config: Config): Pick<PushOptions, 'compression' | 'recipients' | 'keys'> {
  return {
    compression: config.compress,
    recipients: config.recipients,
    keys: config.identityFile === undefined ? undefined : identityKeys(config.identityFile),
  };
}

export async function pushWalFile(path: string, opts: PushOptions): Promise<PushResult> {
  const result = await pushOne(path, opts);
  if (!opts.identity) return result;
  // Unchanged from before the read to after the store: the identity names the stored bytes.
  const before = result.identity;
  return { ...result, identity: before !== null && before === fileIdentity(resolve(path)) ? before : null };
}

async function pushOne(path: string, opts: PushOptions): Promise<PushResult> {
  const name = basename(path);
  const file = parseWalFileName(name);
  if (!file) {
    throw new InputError(
      `${path} is not a file PostgreSQL archives (a segment, .partial, .backup or .history file): check archive_command`,
    );
  }
  const absolute = resolve(path);
  const before = opts.identity ? await stableIdentity(absolute) : undefined;
  let data: Buffer;
  try {
    data = readWholeFile(absolute, opts.pool);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    if (err.code === 'ENOENT') {
      throw new InputError(`WAL file ${absolute} does not exist: archive_command must be "pitr wal-push %p" (run from the data directory)`);
    }
    throw new InputError(`cannot read WAL file ${absolute} (${err.code ?? err.message})`, err);
  }
  try {
    return await store({ name, file, absolute, data, before }, opts);
  } finally {
    opts.pool?.give(data);
  }
}

/**
 * One read(2) on this thread: the asynchronous readFile makes 32 round trips through the
 * thread pool for a 16 MiB segment, each waking a thread that preempts the database. Into a
 * buffer from `pool` when given (os/buffer-pool.ts).
 */
function readWholeFile(path: string, pool: BufferPool | undefined): Buffer {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    const buf = pool ? pool.take(size) : Buffer.allocUnsafe(size);
    let n = 0;
    for (let got = 1; n < size && got > 0; n += got) got = readSync(fd, buf, n, size - n, n);
    return buf.subarray(0, n); // shorter if the file shrank: the size checks below refuse it
  } finally {
    closeSync(fd);
  }
}

interface ReadFile {
  name: string;
  file: WalFileName;
  absolute: string;
  data: Buffer;
  /** Its identity before the read, when asked for. */
  before: string | null | undefined;
}

/** Checks the file's cluster against the repository's and stores it (steps 1-4 above). */
async function store({ name, file, absolute, data, before }: ReadFile, opts: PushOptions): Promise<PushResult> {
  const { storage } = opts;

  // What this file says about its cluster. Segments carry it in their first page.
  let cluster: Partial<ClusterIdentity>;
  let transactionEnds: TransactionEnds | undefined;
  if (file.kind === 'segment' || file.kind === 'partial') {
    const header = readSegmentHeader(data, absolute);
    checkSegmentMatchesName(header, file, data.length, absolute);
    cluster = { systemIdentifier: header.systemIdentifier, pgVersion: header.pgVersion, walSegmentSize: header.segmentSize };
    // Not a .partial's: recovery never reads one (its WAL is in the next timeline's segment),
    // and past the switch point it may hold WAL the new timeline does not have.
    if (file.kind === 'segment') transactionEnds = scanTransactionEnds(data, header.pgVersion);
  } else {
    const sysid = await readSystemIdentifier(opts.dataDir);
    cluster = sysid === null ? {} : { systemIdentifier: sysid };
  }

  const key = walObjectKey(file);
  const [found, existingHead] = await Promise.all([opts.repository ?? readIdentity(storage), readObjectHead(storage, key)]);
  let repository = found;
  let boundRepository = false;
  if (repository) {
    assertSameCluster(repository, cluster, storage, absolute);
  } else {
    // An empty repository: bound by this push only if this cluster never archived anywhere
    // (an unmounted volume looks empty too: see archived-into.ts).
    assertMayBind(opts.dataDir, storage.url);
    const full = isComplete(cluster) ? cluster : await clusterFromDataDir(opts.dataDir);
    ({ identity: repository, created: boundRepository } = await bindIdentity(storage, full, VERSION, absolute, opts.recipients));
  }
  assertSameRecipients(repository, opts.recipients, storage);

  // History files keep a copy in the clear beside the encrypted one (ObjectMeta.clear).
  const clearCopy = file.kind === 'history' || file.kind === 'backup';
  const sealed = await sealObject(
    data,
    { name, transactionEnds, clearCopy },
    { compression: opts.compression, recipients: opts.recipients },
    opts.pool,
  );
  try {
    return await storeObject(key, sealed, { data, existingHead, boundRepository, before, repositoryId: repository.id }, opts);
  } finally {
    sealed.release();
  }
}

interface StoreArgs {
  repositoryId: string;
  data: Buffer;
  existingHead: ObjectHead | null;
  boundRepository: boolean;
  before: string | null | undefined;
}

/** Writes the object under `key`, or finds the same file already there (steps 3 and 4 above). */
async function storeObject(
  key: string,
  { object, meta }: SealedObject,
  { data, existingHead, boundRepository, before, repositoryId }: StoreArgs,
  opts: PushOptions,
): Promise<PushResult> {
  const { storage } = opts;
  const { name } = meta;
  const payloadSha256 = meta.payloadSha256!;
  const pushed = { data, meta };
  const result = { name, key, size: data.length, payloadSha256, boundRepository, repositoryId, identity: before };
  if (existingHead) {
    if ((await compareStored(existingHead, pushed, opts)) === 'complete') return { ...result, status: 'exists', storedBytes: 0 };
    // A cut-off write of these very bytes: replacing it loses nothing.
    await storage.put(key, object);
    return { ...result, status: 'repaired', storedBytes: object.length };
  }

  try {
    await storage.put(key, object, { noOverwrite: true });
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
    // Another pusher won the race between our check and our write: compare with its copy.
    const head = await readObjectHead(storage, key);
    if (head && (await compareStored(head, pushed, opts)) === 'complete') return { ...result, status: 'exists', storedBytes: 0 };
    throw new ArchiveConflictError(`${name} is being written to ${storage.url} by another process: PostgreSQL will retry`);
  }
  return { ...result, status: 'stored', storedBytes: object.length };
}

interface PushedFile {
  data: Buffer;
  /** The object this call would store. */
  meta: ObjectMeta;
}

/**
 * Compares an existing object with the file being pushed. Returns 'complete' for an identical
 * archived copy, 'incomplete' for a cut-off write of the same bytes; throws on anything else.
 */
async function compareStored(head: ObjectHead, file: PushedFile, opts: PushOptions): Promise<'complete' | 'incomplete'> {
  const { storage } = opts;
  const { name } = file.meta;
  const stored = inspectStoredObject(head, `archived ${name} in ${storage.url}`);
  if (!stored.meta) return 'incomplete'; // cut off inside its header
  if (!(await sameContent(stored.meta, stored.state, file, opts))) {
    const sum = (m: ObjectMeta) => (m.payloadSha256 ?? m.sha256 ?? '').slice(0, 12);
    throw new ArchiveConflictError(
      `${name} is already archived in ${storage.url} with different content (stored ${stored.meta.size} bytes, checksum ${sum(stored.meta)}…; ` +
        `this file ${file.data.length} bytes, ${sum(file.meta)}…): refusing to overwrite. ` +
        'Two clusters may be archiving into one repository, or the stored copy is damaged: investigate before archiving resumes',
    );
  }
  return stored.state;
}

/**
 * Whether the stored object holds the file's very bytes. The same payload stored the same way
 * is the same original (decompression is a function): for an encrypted object, the same
 * compressed payload (encryption differs every time); an object that carries the original's
 * SHA-256 is compared by it; a complete object stored differently (another lz4 version or
 * setting) is read back and compared byte for byte, which only a re-push meets, and which an
 * encrypted object allows only a host with its identity.
 */
async function sameContent(meta: ObjectMeta, state: StoredState['state'], file: PushedFile, opts: PushOptions): Promise<boolean> {
  if (meta.size !== file.data.length) return false;
  // The compressed original's checksum: of the payload in the clear, recorded beside it when encrypted.
  const compressed = (m: ObjectMeta) => (m.encryption === 'age' ? m.compressedSha256 : m.payloadSha256);
  if (meta.compression === file.meta.compression && compressed(meta) !== undefined && compressed(meta) === compressed(file.meta))
    return true;
  if (meta.sha256 !== undefined) return meta.sha256 === sha256(file.data);
  if (meta.encryption === 'age' && meta.compressedSha256 !== undefined && (meta.compression === 'lz4' || meta.compression === 'none')) {
    // Stored with other compression than this push uses: compressed the stored way, the same file compresses the same.
    const again = await compress(meta.compression, file.data);
    if (sha256(again.bytes) === meta.compressedSha256) return true;
  }
  if (state !== 'complete') return false; // a cut-off copy stored differently: nothing to compare with
  if (meta.encryption === 'age' && !opts.keys) {
    throw new ArchiveConflictError(
      `${meta.name} is already archived in ${opts.storage.url}, encrypted and compressed otherwise than this push would: ` +
        'this host holds no identity to compare it with, so it stores nothing; compare it by hand with pitr wal-fetch on a host that has the identity',
    );
  }
  return (await readArchivedFile(opts.storage, meta.name, opts.keys))?.equals(file.data) ?? false;
}

function isComplete(c: Partial<ClusterIdentity>): c is ClusterIdentity {
  return c.systemIdentifier !== undefined && c.pgVersion !== undefined && c.walSegmentSize !== undefined;
}

async function clusterFromDataDir(dataDir: string): Promise<ClusterIdentity> {
  const { identityFromDataDir } = await import('../pg/cluster-identity.js');
  return identityFromDataDir(dataDir);
}
