// The age format (age-encryption.org/v1) for a payload held whole: what `age -d -i key.txt`
// reads, and what `age -r age1…` writes.
//
// The header is the age-encryption package's, by age's author: the file key wrapped to each
// X25519 recipient, the header MAC, and on the way back unwrapping with an identity and
// checking that MAC. The payload STREAM runs on Node's own ChaCha20-Poly1305 (OpenSSL): the
// package's pure-JS cipher does 89 MiB/s, about 45 ms for a 4 MiB compressed segment, the
// archiver's whole budget twice over; OpenSSL does the same chunks at 1153 MiB/s. No
// primitive is written here: HKDF-SHA256 and ChaCha20-Poly1305 are node:crypto's, X25519 and
// the header the package's.
//
// STREAM (the spec's payload): a 16-byte nonce, then the plaintext in 64 KiB chunks, each
// sealed with ChaCha20-Poly1305 under HKDF-SHA256(file key, nonce, "payload"), the chunk's
// 12-byte nonce being an 11-byte big-endian counter and a last-chunk flag (1 on the last). A
// stream that ends without its last chunk, or goes on after it, is refused.
import { createCipheriv, createDecipheriv, hkdfSync } from 'node:crypto';
import { Decrypter, Encrypter, type Recipient } from 'age-encryption';
import { IntegrityError } from '../errors.js';

const CHUNK = 64 * 1024;
const TAG = 16;
const NONCE = 16;
const HEADER_END = Buffer.from('\n--- ');

/** Encrypts `plaintext` to every recipient (age1… public keys). */
export async function ageEncrypt(plaintext: Buffer, recipients: readonly string[]): Promise<Buffer> {
  // The package writes the header (and an empty payload we drop); a recipient of our own,
  // which adds no stanza, is handed the file key it made, for the payload below.
  let fileKey: Uint8Array | null = null;
  const keeper: Recipient = {
    wrapFileKey: (key: Uint8Array) => {
      fileKey = key;
      return [];
    },
  };
  const encrypter = new Encrypter();
  for (const r of recipients) encrypter.addRecipient(r);
  encrypter.addRecipient(keeper);
  const empty = Buffer.from(await encrypter.encrypt(new Uint8Array(0)));
  if (fileKey === null) throw new Error('age: the file key was not handed over');
  const headerLength = endOfHeader(empty);
  const nonce = empty.subarray(headerLength, headerLength + NONCE);
  const key = streamKey(fileKey, nonce);
  const chunks = Math.max(1, Math.ceil(plaintext.length / CHUNK));
  const out = Buffer.allocUnsafe(headerLength + NONCE + plaintext.length + chunks * TAG);
  empty.copy(out, 0, 0, headerLength + NONCE);
  let at = headerLength + NONCE;
  for (let i = 0; i < chunks; i++) {
    const cipher = createCipheriv('chacha20-poly1305', key, chunkNonce(i, i === chunks - 1), { authTagLength: TAG });
    at += cipher.update(plaintext.subarray(i * CHUNK, (i + 1) * CHUNK)).copy(out, at);
    at += cipher.final().copy(out, at);
    at += cipher.getAuthTag().copy(out, at);
  }
  return out.subarray(0, at);
}

/**
 * Decrypts an age file with the first of `identities` (AGE-SECRET-KEY-1… lines) that a
 * recipient stanza was made for. IntegrityError naming `what` when no identity matches, the
 * header or a chunk was tampered with, or the file is cut off.
 */
export async function ageDecrypt(file: Buffer, identities: readonly string[], what: string): Promise<Buffer> {
  let headerLength: number;
  try {
    headerLength = endOfHeader(file);
  } catch {
    throw new IntegrityError(`${what} is not an age-encrypted file (no age header): it was stored without encryption, or is damaged`);
  }
  const decrypter = new Decrypter();
  for (const id of identities) decrypter.addIdentity(id);
  let fileKey: Uint8Array;
  try {
    fileKey = await decrypter.decryptHeader(file.subarray(0, headerLength));
  } catch (err) {
    const message = (err as Error).message;
    throw new IntegrityError(
      /no identity matched/.test(message)
        ? `${what} is encrypted to other keys than this identity's: use the identity of a recipient it was written to (PITR_ENCRYPT_IDENTITY_FILE)`
        : `${what} has a damaged age header (${message}): restore it from another copy`,
    );
  }
  if (file.length < headerLength + NONCE + TAG) throw new IntegrityError(`${what} is cut off inside its age payload`);
  const key = streamKey(fileKey, file.subarray(headerLength, headerLength + NONCE));
  const body = file.subarray(headerLength + NONCE);
  const chunks = Math.ceil(body.length / (CHUNK + TAG));
  const out = Buffer.allocUnsafe(body.length - chunks * TAG);
  let at = 0;
  for (let i = 0; i < chunks; i++) {
    const sealed = body.subarray(i * (CHUNK + TAG), (i + 1) * (CHUNK + TAG));
    const last = i === chunks - 1;
    // Only the last chunk may be short, and only a whole-file-empty stream has an empty one.
    if (sealed.length < TAG || (last && sealed.length === TAG && chunks > 1))
      throw new IntegrityError(`${what}: age payload chunk ${i} is malformed`);
    const decipher = createDecipheriv('chacha20-poly1305', key, chunkNonce(i, last), { authTagLength: TAG });
    decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
    try {
      at += decipher.update(sealed.subarray(0, sealed.length - TAG)).copy(out, at);
      decipher.final();
    } catch {
      // A full last chunk without the flag is a stream cut at a chunk boundary.
      throw new IntegrityError(
        `${what}: age payload chunk ${i} does not authenticate: the object was tampered with or cut off; restore it from another copy`,
      );
    }
  }
  return out.subarray(0, at);
}

/** Where the header ends: after the line "--- <MAC>\n". */
function endOfHeader(file: Buffer): number {
  if (!file.subarray(0, 21).equals(Buffer.from('age-encryption.org/v1'))) throw new Error('not an age file');
  const mac = file.indexOf(HEADER_END);
  if (mac < 0) throw new Error('no header end');
  const newline = file.indexOf(0x0a, mac + HEADER_END.length);
  if (newline < 0) throw new Error('no header end');
  return newline + 1;
}

function streamKey(fileKey: Uint8Array, nonce: Buffer): Buffer {
  return Buffer.from(hkdfSync('sha256', fileKey, nonce, 'payload', 32));
}

function chunkNonce(counter: number, last: boolean): Buffer {
  const nonce = Buffer.alloc(12);
  nonce.writeUIntBE(counter, 5, 6); // the 11-byte counter's low 6 bytes: 2^48 chunks of 64 KiB
  nonce[11] = last ? 1 : 0;
  return nonce;
}
