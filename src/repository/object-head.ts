// The first bytes of a WAL object, enough to hold its whole header: one ranged read of
// MAX_HEADER_BYTES covers every header in the clear and an encrypted one with a few
// recipients; a longer age header (many recipients, a long timeline history's clear copy) is
// read again, up to MAX_SEALED_HEADER_BYTES.
import { headerLength, MAX_HEADER_BYTES, MAX_SEALED_HEADER_BYTES } from '../codec/object-format.js';
import type { ObjectHead, Storage } from '../storage/storage.js';

/** The object's first bytes (its whole header, when it has one that fits) and size; null when it does not exist. */
export async function readObjectHead(storage: Storage, key: string): Promise<ObjectHead | null> {
  const head = await storage.getHead(key, MAX_HEADER_BYTES);
  if (head === null || head.bytes.length === head.size || !needsMore(head.bytes)) return head;
  return storage.getHead(key, MAX_SEALED_HEADER_BYTES);
}

function needsMore(bytes: Buffer): boolean {
  try {
    return headerLength(bytes, '') === 'incomplete';
  } catch {
    return false; // no pitr header: the caller says so
  }
}
