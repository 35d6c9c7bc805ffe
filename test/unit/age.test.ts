// The age format both ways against the real age CLI (Debian package `age`): what pitr writes,
// `age -d` reads; what `age -r` writes, pitr reads. And every way a read must fail: another
// key, a flipped byte, a file cut at a chunk boundary or extended past its end. (Binary
// output: execa must not strip a final newline byte, which ended 1 in 256 random files.)
import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { AgeDecryptStream, AgeEncryptStream, ageEncrypt, ageSeal } from '../../src/codec/age.js';
import { AgeIdentities, ageDecrypt } from '../../src/codec/age-identities.js';
import { parseAgeHeader } from '../../src/codec/age-header.js';
import { EncryptionKeyError, IntegrityError } from '../../src/errors.js';

const CHUNK = 64 * 1024;
/** The end of a pipeline: keeps what reaches it. */
const into = (kept: Buffer[]) => async (source: AsyncIterable<Buffer>) => {
  for await (const piece of source) kept.push(piece);
};
/** Sizes at the STREAM's edges: empty, one byte, exactly one and two chunks, and past them. */
const SIZES = [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK, 3 * CHUNK + 12345];

describe('age format', () => {
  let dir: string;
  const keys: { identity: string; recipient: string; file: string }[] = [];

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'pitr-age-'));
    for (const n of [1, 2, 3]) {
      const file = join(dir, `key${n}.txt`);
      await execa('age-keygen', ['-o', file]);
      const text = await readFile(file, 'utf8');
      keys.push({ identity: /^AGE-SECRET-KEY-1\S+$/m.exec(text)![0], recipient: /public key: (age1\S+)/.exec(text)![1]!, file });
    }
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('writes what age -d reads back byte for byte, at every chunk edge, to several recipients', async () => {
    for (const size of SIZES) {
      const plain = randomBytes(size);
      const sealed = await ageEncrypt(plain, [keys[0]!.recipient, keys[1]!.recipient]);
      const path = join(dir, `sealed-${size}.age`);
      await writeFile(path, sealed);
      for (const k of [keys[0]!, keys[1]!]) {
        const { stdout } = await execa('age', ['-d', '-i', k.file, path], { encoding: 'buffer', stripFinalNewline: false });
        expect(Buffer.from(stdout).equals(plain), `size ${size}`).toBe(true);
      }
      expect((await ageDecrypt(sealed, [keys[1]!.identity], 'x')).equals(plain)).toBe(true);
    }
  });

  it('reads what age -r writes', async () => {
    for (const size of SIZES) {
      const plain = randomBytes(size);
      const path = join(dir, `plain-${size}`);
      await writeFile(path, plain);
      const { stdout } = await execa('age', ['-r', keys[2]!.recipient, path], { encoding: 'buffer', stripFinalNewline: false });
      expect((await ageDecrypt(Buffer.from(stdout), [keys[0]!.identity, keys[2]!.identity], 'x')).equals(plain), `size ${size}`).toBe(true);
    }
  });

  it('refuses another key, a flipped byte, a cut or extended file and a file that is not age, naming the object', async () => {
    const plain = randomBytes(3 * CHUNK);
    const sealed = await ageEncrypt(plain, [keys[0]!.recipient]);
    const refused = async (file: Buffer, identity = keys[0]!.identity) => {
      const err = await ageDecrypt(file, [identity], 'wal/X/000000010000000000000003').catch((e: unknown) => e);
      // Another key is no damage (exit 15, not 6): the message says which.
      expect((err as Error).constructor).toBe(/other keys/.test((err as Error).message) ? EncryptionKeyError : IntegrityError);
      expect((err as Error).message).toContain('wal/X/000000010000000000000003');
      return (err as Error).message;
    };
    expect(await refused(sealed, keys[1]!.identity)).toMatch(/encrypted to other keys than this identity's/);
    const flipped = Buffer.from(sealed);
    flipped.writeUInt8(flipped.readUInt8(flipped.length - CHUNK) ^ 1, flipped.length - CHUNK);
    expect(await refused(flipped)).toMatch(/does not authenticate/);
    const header = Buffer.from(sealed);
    header.writeUInt8(header.readUInt8(30) ^ 1, 30); // inside the recipient stanza
    expect(await refused(header)).toMatch(/other keys|damaged age header/);
    // Cut after two whole chunks: the second is no last chunk.
    const cut = sealed.subarray(0, sealed.length - (CHUNK + 16));
    expect(await refused(cut)).toMatch(/does not authenticate/);
    expect(await refused(Buffer.concat([sealed, Buffer.alloc(20)]))).toMatch(/does not authenticate|malformed/);
    expect(await refused(plain)).toMatch(/not an age-encrypted file/);
  });

  it('carries a stanza of its own that age -d passes over and anyone reads without a key', async () => {
    const plain = randomBytes(CHUNK + 5);
    const meta = Buffer.from(JSON.stringify({ v: 1, text: 'x'.repeat(3000) })); // many 64-column body lines
    for (const extra of [meta, meta.subarray(0, 48)]) {
      const { header, body } = await ageSeal(plain, [keys[0]!.recipient], undefined, () => ({ args: ['pitr-object'], body: extra }));
      const path = join(dir, 'with-stanza.age');
      await writeFile(path, Buffer.concat([header, body]));
      const { stdout } = await execa('age', ['-d', '-i', keys[0]!.file, path], { encoding: 'buffer', stripFinalNewline: false });
      expect(Buffer.from(stdout).equals(plain)).toBe(true);
      const parsed = parseAgeHeader(Buffer.concat([header, body]));
      if (typeof parsed === 'string') throw new Error(parsed);
      expect(parsed.length).toBe(header.length);
      expect(parsed.stanzas.find((s) => s.args[0] === 'pitr-object')?.body.equals(extra)).toBe(true);
      expect(parseAgeHeader(header.subarray(0, header.length - 2))).toBe('incomplete');
    }
  });

  it('streams both ways, holding one chunk, at every chunk edge', async () => {
    const ids = new AgeIdentities([keys[1]!.identity]);
    for (const size of SIZES) {
      const plain = randomBytes(size);
      const parts: Buffer[] = [];
      // Pieces of odd sizes, so chunk edges fall inside them.
      const pieces = Array.from({ length: Math.ceil(size / 7000) }, (_, i) => plain.subarray(i * 7000, (i + 1) * 7000));
      await pipeline(Readable.from(pieces), new AgeEncryptStream([keys[1]!.recipient]), into(parts));
      const sealed = Buffer.concat(parts);
      const path = join(dir, `streamed-${size}.age`);
      await writeFile(path, sealed);
      const { stdout } = await execa('age', ['-d', '-i', keys[1]!.file, path], { encoding: 'buffer', stripFinalNewline: false });
      expect(Buffer.from(stdout).equals(plain), `size ${size}`).toBe(true);

      const opened: Buffer[] = [];
      const slices = Array.from({ length: Math.ceil(sealed.length / 5000) }, (_, i) => sealed.subarray(i * 5000, (i + 1) * 5000));
      await pipeline(Readable.from(slices), new AgeDecryptStream(ids, 'x'), into(opened));
      expect(Buffer.concat(opened).equals(plain), `size ${size}`).toBe(true);
    }
  });

  it('refuses a stream cut at a chunk edge, a wrong key and tampering, naming the object', async () => {
    const plain = randomBytes(3 * CHUNK);
    const sealed = await ageEncrypt(plain, [keys[0]!.recipient]);
    const streamError = async (file: Buffer, identity = keys[0]!.identity) => {
      const err = await pipeline(
        Readable.from([file]),
        new AgeDecryptStream(new AgeIdentities([identity]), 'backups/B/base.tar.lz4.age'),
        into([]),
      ).catch((e: unknown) => e);
      expect((err as Error).constructor).toBe(identity === keys[0]!.identity ? IntegrityError : EncryptionKeyError);
      expect((err as Error).message).toContain('backups/B/base.tar.lz4.age');
      return (err as Error).message;
    };
    expect(await streamError(sealed.subarray(0, sealed.length - (CHUNK + 16)))).toMatch(/does not authenticate/);
    expect(await streamError(sealed, keys[2]!.identity)).toMatch(/other keys/);
    const flipped = Buffer.from(sealed);
    flipped.writeUInt8(flipped.readUInt8(flipped.length - 100) ^ 1, flipped.length - 100);
    expect(await streamError(flipped)).toMatch(/does not authenticate/);
    expect(await streamError(sealed.subarray(0, 40))).toMatch(/cut off inside its age header/);
  });
});
