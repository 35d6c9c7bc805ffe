// The age format (age-encryption.org/v1): what `age -d -i key.txt` reads, and what
// `age -r age1…` writes, for a payload held whole (WAL files) or streamed (base backups).
//
// Reading the header is the age-encryption package's, by age's author (age-identities.ts): it
// unwraps the file key with an identity and checks the header MAC. Writing composes the spec's steps from node:crypto's
// primitives (OpenSSL): X25519, HKDF-SHA256, HMAC-SHA256 and ChaCha20-Poly1305. The package
// does the same work at a cost the archiver cannot carry per segment: its X25519 runs through
// WebCrypto key imports, 3.0 ms of CPU a header against 0.3 ms here, and its pure-JS payload
// cipher does 89 MiB/s against OpenSSL's 1153 MiB/s (docs/encryption.md has the measurements).
// No primitive is written here; what this file writes, the real age CLI and the package read
// back in the tests (test/unit/age.test.ts).
//
// STREAM (the spec's payload): a 16-byte nonce, then the plaintext in 64 KiB chunks, each
// sealed with ChaCha20-Poly1305 under HKDF-SHA256(file key, nonce, "payload"), the chunk's
// 12-byte nonce being an 11-byte big-endian counter and a last-chunk flag (1 on the last). A
// stream that ends without its last chunk, or goes on after it, is refused.
//
// A header may carry a stanza of pitr's own (an object's metadata, codec/object-format.ts):
// age ignores stanza types it does not know, the header MAC covers it, and anyone can read it
// without a key (age-header.ts).
import {
  createCipheriv,
  createDecipheriv,
  createHmac,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  randomBytes,
  type KeyObject,
} from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { bech32 } from '@scure/base';
import { ConfigError, IntegrityError } from '../errors.js';
import { encodeStanzas, parseAgeHeader, type AgeStanza } from './age-header.js';

const CHUNK = 64 * 1024;
const TAG = 16;
const NONCE = 16;

/** What opens a header: the identities of age-identities.ts (which loads the age package). */
export interface HeaderUnwrapper {
  /** The header's file key; EncryptionKeyError when no identity matches, IntegrityError when the header was tampered with. */
  unwrap(header: Buffer, what: string): Promise<Uint8Array>;
}

/** The bytes an age body (nonce and sealed chunks) takes for `plaintextBytes`. */
export function ageBodySize(plaintextBytes: number): number {
  return NONCE + plaintextBytes + Math.max(1, Math.ceil(plaintextBytes / CHUNK)) * TAG;
}

/**
 * Encrypts `plaintext` to every recipient (age1… public keys) into `out` (at least
 * ageBodySize bytes). `describe`, given the sealed body, returns a stanza to add to the
 * header: what the object says about itself, with the body's size and checksum.
 */
export async function ageSeal(
  plaintext: Buffer,
  recipients: readonly string[],
  out: Buffer = Buffer.allocUnsafe(ageBodySize(plaintext.length)),
  describe?: (body: Buffer) => AgeStanza,
): Promise<{ header: Buffer; body: Buffer }> {
  const fileKey = randomBytes(16);
  const nonce = randomBytes(NONCE);
  nonce.copy(out, 0);
  const key = streamKey(fileKey, nonce);
  const chunks = Math.max(1, Math.ceil(plaintext.length / CHUNK));
  let at = NONCE;
  for (let i = 0; i < chunks; i++) at += sealChunk(key, i, i === chunks - 1, plaintext.subarray(i * CHUNK, (i + 1) * CHUNK), out, at);
  const body = out.subarray(0, at);
  return { header: makeHeader(fileKey, recipients, describe ? [describe(body)] : []), body };
}

/** Encrypts `plaintext` to every recipient: a whole age file. */
export async function ageEncrypt(plaintext: Buffer, recipients: readonly string[]): Promise<Buffer> {
  const { header, body } = await ageSeal(plaintext, recipients);
  return Buffer.concat([header, body]);
}

/**
 * Decrypts the body of an age file whose header is `header`. IntegrityError naming `what`
 * when no identity matches, the header or a chunk was tampered with, or the body is cut off.
 */
export async function ageOpen(header: Buffer, body: Buffer, identities: HeaderUnwrapper, what: string): Promise<Buffer> {
  const fileKey = await identities.unwrap(header, what);
  if (body.length < NONCE + TAG) throw new IntegrityError(`${what} is cut off inside its age payload`);
  const key = streamKey(fileKey, body.subarray(0, NONCE));
  const sealed = body.subarray(NONCE);
  const chunks = Math.ceil(sealed.length / (CHUNK + TAG));
  const out = Buffer.allocUnsafe(sealed.length - chunks * TAG);
  let at = 0;
  for (let i = 0; i < chunks; i++) {
    const last = i === chunks - 1;
    const chunk = sealed.subarray(i * (CHUNK + TAG), (i + 1) * (CHUNK + TAG));
    // Only the last chunk may be short, and only a whole-file-empty stream has an empty one.
    if (chunk.length < TAG || (last && chunk.length === TAG && chunks > 1))
      throw new IntegrityError(`${what}: age payload chunk ${i} is malformed`);
    at += openChunk(key, i, last, chunk, out, at, what);
  }
  return out.subarray(0, at);
}

/**
 * Encrypts a stream into an age file, with bounded memory: one 64 KiB chunk is held until the
 * next bytes show it is not the last.
 */
export class AgeEncryptStream extends Transform {
  private key: Buffer | null = null;
  private counter = 0;
  private readonly pending = Buffer.allocUnsafe(CHUNK);
  private filled = 0;

  constructor(private readonly recipients: readonly string[]) {
    super();
  }

  override _construct(done: (err?: Error | null) => void): void {
    try {
      const fileKey = randomBytes(16);
      const nonce = randomBytes(NONCE);
      this.key = streamKey(fileKey, nonce);
      this.push(makeHeader(fileKey, this.recipients, []));
      this.push(nonce);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    for (let at = 0; at < chunk.length;) {
      if (this.filled === CHUNK) this.seal(false);
      const n = chunk.copy(this.pending, this.filled, at, at + CHUNK - this.filled);
      this.filled += n;
      at += n;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    this.seal(true);
    done();
  }

  private seal(last: boolean): void {
    const out = Buffer.allocUnsafe(this.filled + TAG);
    sealChunk(this.key!, this.counter++, last, this.pending.subarray(0, this.filled), out, 0);
    this.filled = 0;
    this.push(out);
  }
}

/**
 * Decrypts a stream of an age file, with bounded memory: the header (at most
 * MAX_AGE_HEADER_BYTES), then one sealed chunk held until the next bytes show it is not the
 * last. Errors are IntegrityErrors naming `what`.
 */
export class AgeDecryptStream extends Transform {
  private key: Buffer | null = null;
  private counter = 0;
  private held: Buffer = Buffer.alloc(0);

  constructor(
    private readonly identities: HeaderUnwrapper,
    private readonly what: string,
  ) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.held = this.held.length === 0 ? chunk : Buffer.concat([this.held, chunk]);
    if (this.key !== null) return this.openWhole(done);
    const parsed = parseAgeHeader(this.held);
    if (parsed === 'not-age') return done(new IntegrityError(`${this.what} is not an age-encrypted file (no age header): it is damaged`));
    if (parsed === 'incomplete' || this.held.length < parsed.length + NONCE) return done();
    const header = this.held.subarray(0, parsed.length);
    const nonce = this.held.subarray(parsed.length, parsed.length + NONCE);
    this.held = this.held.subarray(parsed.length + NONCE);
    this.identities.unwrap(header, this.what).then((fileKey) => {
      if (this.destroyed) return;
      this.key = streamKey(fileKey, nonce);
      this.openWhole(done); // reports its own errors through done
    }, done);
  }

  override _flush(done: TransformCallback): void {
    if (this.key === null) return done(new IntegrityError(`${this.what} is cut off inside its age header`));
    if (this.held.length < TAG || (this.held.length === TAG && this.counter > 0))
      return done(new IntegrityError(`${this.what} is cut off inside its age payload`));
    try {
      this.open(this.held, true);
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  /** Opens every chunk held but the last: strictly more than a chunk held shows the one in front is not the last. */
  private openWhole(done: TransformCallback): void {
    try {
      while (this.held.length > CHUNK + TAG) {
        this.open(this.held.subarray(0, CHUNK + TAG), false);
        this.held = this.held.subarray(CHUNK + TAG);
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  private open(sealed: Buffer, last: boolean): void {
    const out = Buffer.allocUnsafe(sealed.length - TAG);
    openChunk(this.key!, this.counter++, last, sealed, out, 0, this.what);
    this.push(out);
  }
}

/**
 * The header for `fileKey`: an X25519 stanza per recipient, then `extra`, then the MAC. The
 * spec's steps: an ephemeral X25519 key per stanza, the shared secret with the recipient,
 * HKDF-SHA256 (salt: ephemeral share and recipient, info "age-encryption.org/v1/X25519") to
 * the key that seals the file key with ChaCha20-Poly1305 under a zero nonce; the MAC is
 * HMAC-SHA256 of the header up to "---", keyed by HKDF-SHA256(file key, info "header").
 */
function makeHeader(fileKey: Buffer, recipients: readonly string[], extra: AgeStanza[]): Buffer {
  const stanzas = recipients.map((r) => x25519Stanza(fileKey, recipientKey(r)));
  const withoutMac = encodeStanzas([...stanzas, ...extra]);
  const macKey = Buffer.from(hkdfSync('sha256', fileKey, Buffer.alloc(0), 'header', 32));
  const mac = createHmac('sha256', macKey).update(withoutMac).digest();
  return Buffer.concat([withoutMac, Buffer.from(` ${mac.toString('base64').replace(/=+$/, '')}\n`)]);
}

const X25519_LABEL = 'age-encryption.org/v1/X25519';
const SPKI_X25519 = Buffer.from('302a300506032b656e032100', 'hex');

function x25519Stanza(fileKey: Buffer, recipient: { raw: Buffer; key: KeyObject }): AgeStanza {
  const ephemeral = generateKeyPairSync('x25519');
  const share = ephemeral.publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_X25519.length);
  // OpenSSL refuses a low-order recipient key (an all-zero shared secret), as the spec asks.
  const secret = diffieHellman({ privateKey: ephemeral.privateKey, publicKey: recipient.key });
  const wrapKey = Buffer.from(hkdfSync('sha256', secret, Buffer.concat([share, recipient.raw]), X25519_LABEL, 32));
  const cipher = createCipheriv('chacha20-poly1305', wrapKey, Buffer.alloc(12), { authTagLength: TAG });
  const body = Buffer.concat([cipher.update(fileKey), cipher.final(), cipher.getAuthTag()]);
  return { args: ['X25519', share.toString('base64').replace(/=+$/, '')], body };
}

/** Checks that every recipient decodes (its bech32 checksum too): a ConfigError naming the first that does not. */
export function checkRecipients(recipients: readonly string[]): void {
  for (const r of recipients) recipientKey(r);
}

const recipientKeys = new Map<string, { raw: Buffer; key: KeyObject }>();

/** An age1… recipient's X25519 public key, decoded once per process; a ConfigError for anything else. */
function recipientKey(recipient: string): { raw: Buffer; key: KeyObject } {
  let found = recipientKeys.get(recipient);
  if (!found) {
    let decoded: { prefix: string; bytes: Uint8Array } | null = null;
    try {
      decoded = bech32.decodeToBytes(recipient as `${string}1${string}`);
    } catch {
      // named below
    }
    if (decoded?.prefix !== 'age' || decoded.bytes.length !== 32)
      throw new ConfigError(
        `PITR_ENCRYPT_RECIPIENTS: ${recipient} is not an age public key (its checksum does not match): copy it again from age-keygen`,
      );
    const raw = Buffer.from(decoded.bytes);
    found = { raw, key: createPublicKey({ key: Buffer.concat([SPKI_X25519, raw]), format: 'der', type: 'spki' }) };
    try {
      // A low-order point: every shared secret would be zero, which OpenSSL refuses.
      diffieHellman({ privateKey: generateKeyPairSync('x25519').privateKey, publicKey: found.key });
    } catch {
      throw new ConfigError(`PITR_ENCRYPT_RECIPIENTS: ${recipient} is not a usable X25519 public key: use one made by age-keygen`);
    }
    recipientKeys.set(recipient, found);
  }
  return found;
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

/** Seals one chunk into `out` at `at`; returns the bytes written. */
function sealChunk(key: Buffer, counter: number, last: boolean, plain: Buffer, out: Buffer, at: number): number {
  const cipher = createCipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG });
  let n = cipher.update(plain).copy(out, at);
  n += cipher.final().copy(out, at + n);
  return n + cipher.getAuthTag().copy(out, at + n);
}

/** Opens one sealed chunk (ciphertext and tag) into `out` at `at`; returns the bytes written. */
function openChunk(key: Buffer, counter: number, last: boolean, sealed: Buffer, out: Buffer, at: number, what: string): number {
  const decipher = createDecipheriv('chacha20-poly1305', key, chunkNonce(counter, last), { authTagLength: TAG });
  decipher.setAuthTag(sealed.subarray(sealed.length - TAG));
  try {
    const n = decipher.update(sealed.subarray(0, sealed.length - TAG)).copy(out, at);
    decipher.final();
    return n;
  } catch {
    // A full last chunk without the flag is a stream cut at a chunk boundary.
    throw new IntegrityError(
      `${what}: age payload chunk ${counter} does not authenticate: the object was tampered with or cut off; restore it from another copy`,
    );
  }
}
