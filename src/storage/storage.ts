import type { Readable } from 'node:stream';

// The one interface every repository backend implements. Keys are relative, '/'-separated
// paths inside the repository (see docs/repository-format.md).

export interface ObjectInfo {
  key: string;
  size: number;
  modified: Date;
}

export interface ObjectHead {
  bytes: Buffer;
  /** Size of the whole object. */
  size: number;
}

export interface Listing {
  objects: ObjectInfo[];
  /** With a delimiter: the "sub-directories" directly under the prefix, each ending in '/'. */
  prefixes: string[];
}

export interface PutOptions {
  /**
   * Refuse to replace an existing object: reject with AlreadyExistsError. Atomic where the
   * store supports it (link(2) on file://, If-None-Match on S3); callers still check before
   * writing, because some S3-compatible stores ignore If-None-Match.
   */
  noOverwrite?: boolean;
}

export interface Storage {
  /** Human-readable location for messages, never containing credentials. */
  readonly url: string;
  /**
   * True when an object under its final key is always whole (file://: written under a
   * temporary name, then linked; AWS S3 and most S3-compatible stores: a PutObject is stored
   * whole or not at all). Some S3-compatible stores (s3rver) keep the part of a PutObject that
   * arrived before the client died, under the real key (PITR_S3_ATOMIC_WRITES=false;
   * repository/wal-completeness.ts).
   */
  readonly atomicWrites?: boolean;
  /** The whole object, or null when it does not exist. */
  get(key: string): Promise<Buffer | null>;
  /** Up to the first `length` bytes of the object and its total size, or null when it does not exist. */
  getHead(key: string, length: number): Promise<ObjectHead | null>;
  /** Stores the object; durable (fsynced / acknowledged by the store) when it resolves. */
  put(key: string, body: Buffer, options?: PutOptions): Promise<void>;
  /**
   * Stores a stream of unknown length (base backups) with bounded memory; durable when it
   * resolves. An interrupted write never leaves an object under `key` (temporary name on
   * file://, multipart upload on S3).
   */
  putStream(key: string, body: Readable): Promise<void>;
  /** The object as a stream, or null when it does not exist. */
  getStream(key: string): Promise<Readable | null>;
  list(prefix: string, options?: { delimiter?: '/' }): Promise<Listing>;
  delete(key: string): Promise<void>;
  /**
   * Deletes every key (absent ones are no error): S3 in batches of up to 1000 keys a request
   * (DeleteObjects), file:// one unlink each. Keys are deleted in the order given on file://;
   * within one S3 batch the store chooses, so callers that need an order pass batches of it.
   */
  deleteMany(keys: readonly string[]): Promise<void>;
  /** file:// only: the local path of `key`, for checks the shell launcher makes itself. */
  localPath?(key: string): string;
  /**
   * file:// only: a token that changes whenever what `list(prefix)` returns may have changed
   * (the directory's times), or null when that cannot be told: list again. `prefix` names a
   * directory and ends in "/". Taken before listing, so a change during the listing shows.
   */
  changeToken?(prefix: string): Promise<string | null>;
  /**
   * Removes what interrupted writes left under `prefix` that no reader would ever see but
   * that takes space: file://'s temporary files of killed writers. S3 has none: a cut-off
   * PutObject is an object under its real key, which readers recognise as incomplete
   * (repository/wal-completeness.ts) and the next push replaces; an abandoned multipart
   * upload is a bucket lifecycle rule's to remove.
   */
  sweepAbandonedWrites?(prefix: string): Promise<SweepResult>;
}

export interface SweepResult {
  files: number;
  bytes: number;
}
