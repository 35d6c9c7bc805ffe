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
import { ageDecrypt, ageEncrypt } from '../../src/codec/age.js';
import { IntegrityError } from '../../src/errors.js';

const CHUNK = 64 * 1024;
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
      expect(err).toBeInstanceOf(IntegrityError);
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
});
