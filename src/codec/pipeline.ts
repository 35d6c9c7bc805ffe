// The one way bytes become a stored object and come back. Storing passes the original
// through stages in a fixed order:
//
//   compress → [encrypt: one more stage, next] → measure (size and SHA-256 of the bytes as stored)
//
// and reading runs them backwards: measure and check → [decrypt] → decompress → check the size.
// The checksum is taken last on the way in, over the bytes as stored, so that whoever checks
// a repository needs no key to read it.
//
// The same pipeline in two shapes: whole buffers (WAL files: synchronous where it counts,
// into pooled buffers, without copies) and streams (base backups: bounded memory; on the way
// in the compression is pg_basebackup's own, client-lz4, and on the way out the lz4 program's,
// both in C on another core).
import type { Duplex, Transform } from 'node:stream';
import type { Compression } from '../config/config.js';
import type { BufferPool } from '../os/buffer-pool.js';
import { compress, decompress, type Payload } from './compression.js';
import { Measure } from './measure.js';
import { sha256 } from './object-format.js';

/** How the original is turned into stored bytes: what a reader must undo. */
export interface StoredForm {
  compression: Compression;
}

/** Stored bytes of a whole file, and their checksum. */
export interface SealedPayload extends Payload {
  /** SHA-256 (hex) of `bytes`, the bytes as stored. */
  sha256: string;
}

/** Turns a whole file into its stored bytes. Give `bytes` back to `pool` when `pooled`. */
export async function sealBuffer(data: Buffer, form: StoredForm, pool?: BufferPool): Promise<SealedPayload> {
  const payload = await compress(form.compression, data, pool);
  return { ...payload, sha256: sha256(payload.bytes) };
}

/** What a stored payload must match, from its object's header. */
export interface PayloadCheck {
  compression: string;
  /** Size of the original. */
  size: number;
  /** SHA-256 of the stored bytes (every object written since 2026-12-01). */
  storedSha256?: string;
  /** SHA-256 of the original, for older objects that lack `storedSha256`. */
  originalSha256?: string;
}

/**
 * Checks stored bytes and turns them back into the original, into a buffer from `pool` when
 * given (`pooled`: for the caller to give back; an uncompressed payload is returned as it is).
 * The stored bytes are checked before they are decoded; the original then by its size (or
 * by its own checksum, for older objects). `mismatch` makes the error for bytes that differ.
 */
export function openBuffer(
  stored: Buffer,
  check: PayloadCheck,
  what: string,
  mismatch: () => Error,
  pool?: BufferPool,
): { data: Buffer; pooled: boolean } {
  if (check.storedSha256 !== undefined && sha256(stored) !== check.storedSha256) throw mismatch();
  const data = decompress(check.compression, stored, check.size, what, pool);
  const pooled = pool !== undefined && data !== stored; // decompress takes from the pool unless stored uncompressed
  if (data.length !== check.size || (check.storedSha256 === undefined && sha256(data) !== check.originalSha256)) {
    if (pooled) pool.give(data);
    throw mismatch();
  }
  return { data, pooled };
}

/**
 * The stages a stream passes through after its compression (done upstream) on the way into
 * the store; `stored` counts and hashes what is stored, valid once the stream has finished.
 */
export function sealingStages(): { stages: Transform[]; stored: Measure } {
  const stored = new Measure();
  return { stages: [stored], stored };
}

/**
 * The stages a stored stream passes through on the way out, ending with the original bytes;
 * `stored` counts and hashes the stored bytes (reporting progress), to be compared with the
 * manifest once the stream has finished. A decoder that fails names itself: `lz4`.
 */
export async function openingStages(
  form: { compression: Compression },
  onProgress?: (bytes: number) => void,
): Promise<{ stages: Duplex[]; stored: Measure }> {
  const stored = new Measure(onProgress);
  // Loaded here, not above: wal-push and wal-fetch load this module, and never run a program.
  const { programStage } = await import('../os/program-stream.js');
  const decode = form.compression === 'lz4' ? [programStage('lz4', ['-d', '-c', '-q'])] : [];
  return { stages: [stored, ...decode], stored };
}
