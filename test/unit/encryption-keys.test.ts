// Where keys come in: PITR_ENCRYPT_RECIPIENTS is checked by shape (a secret key pasted there is
// refused without being echoed), the repository records only fingerprints and never a key whose
// checksum fails, pushes must name exactly the recorded keys, and an identity file that cannot
// be used is named by path and line, never by content.
import { execa } from 'execa';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadIdentities, recipientFingerprints } from '../../src/codec/age-keys.js';
import { loadConfig } from '../../src/config/config.js';
import { ConfigError, EncryptionKeyError } from '../../src/errors.js';
import { assertSameRecipients, bindIdentity, changeRecipients, readIdentity } from '../../src/repository/identity.js';
import { openStorage } from '../../src/storage/open.js';
import { tempDir } from '../../tools/harness/env.js';

const cluster = { systemIdentifier: '7310123456789012345', pgVersion: 15, walSegmentSize: 16 * 1024 * 1024 };

describe('encryption keys', () => {
  let dir: string;
  const keys: { recipient: string; secret: string }[] = [];

  beforeAll(async () => {
    dir = await tempDir('keys');
    for (const n of [1, 2]) {
      const file = join(dir, `k${n}.txt`);
      await execa('age-keygen', ['-o', file]);
      const text = await readFile(file, 'utf8');
      keys.push({ recipient: /public key: (age1\S+)/.exec(text)![1]!, secret: /^AGE-SECRET-KEY-1\S+$/m.exec(text)![0] });
    }
  });

  const recipientsOf = (value: string) => loadConfig({}, { PITR_ENCRYPT_RECIPIENTS: value }).recipients;
  const configError = (f: () => unknown) => {
    try {
      f();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      return (err as Error).message;
    }
    throw new Error('no error');
  };

  it('reads recipients by shape, deduplicated, and refuses a secret key without echoing it', () => {
    expect(recipientsOf(` ${keys[0]!.recipient}, ${keys[1]!.recipient},${keys[0]!.recipient} `)).toEqual([
      keys[0]!.recipient,
      keys[1]!.recipient,
    ]);
    expect(recipientsOf('')).toBeUndefined();
    const secret = configError(() => recipientsOf(keys[0]!.secret));
    expect(secret).toMatch(/holds a secret key .*age-keygen -y/);
    expect(secret).not.toContain(keys[0]!.secret.slice(16));
    expect(configError(() => recipientsOf('age1pq1abc'))).toMatch(/not an X25519 recipient/);
    // One X25519 key in 1024 has data beginning with "pq": its shape is an X25519 key's.
    const pqLooking = `age1pq${keys[0]!.recipient.slice(6)}`;
    expect(recipientsOf(pqLooking)).toEqual([pqLooking]);
    expect(configError(() => recipientsOf('ssh-ed25519'))).toMatch(/is not an age public key/);
  });

  it('never records a key whose checksum fails, and records only fingerprints', async () => {
    const storage = await openStorage(loadConfig({ repo: `file://${await tempDir('repo')}` }, {}));
    const r = keys[0]!.recipient;
    const typo = `${r.slice(0, 20)}${r[20] === 'q' ? 'p' : 'q'}${r.slice(21)}`; // the right shape, a bad checksum
    await expect(bindIdentity(storage, cluster, 'test', 'x', [typo])).rejects.toThrow(/checksum does not match/);
    expect(await readIdentity(storage)).toBeNull();

    const { identity } = await bindIdentity(storage, cluster, 'test', 'x', [r]);
    expect(identity.encryption?.recipients).toEqual(recipientFingerprints([r]));
    expect(JSON.stringify(await readIdentity(storage))).not.toContain(r);

    // Exactly the recorded keys: not none, not more, not others.
    expect(() => assertSameRecipients(identity, [r], storage)).not.toThrow();
    for (const other of [undefined, [r, keys[1]!.recipient], [keys[1]!.recipient]]) {
      expect(() => assertSameRecipients(identity, other, storage)).toThrow(EncryptionKeyError);
    }
    const rotated = await changeRecipients(storage, identity, [r, keys[1]!.recipient]);
    expect((await readIdentity(storage))?.encryption?.recipients).toEqual(recipientFingerprints([keys[1]!.recipient, r]));
    expect(rotated.id).toBe(identity.id);
    const clear = await changeRecipients(storage, rotated, undefined);
    expect(clear.encryption).toBeUndefined();
    expect(() => assertSameRecipients(clear, [r], storage)).toThrow(/stores objects in the clear/);
  });

  it('names an unusable identity file by path and line, never by content', async () => {
    await expect(loadIdentities(undefined, 'archived X')).rejects.toThrow(EncryptionKeyError);
    const missing = join(dir, 'missing.txt');
    await expect(loadIdentities(missing, 'x')).rejects.toThrow(new RegExp(`${missing}.*ENOENT`));
    const wrong = join(dir, 'wrong.txt');
    const leaked = 'AGE-SECRET-KEY-1NOTREALLYAKEYBUTSECRETLOOKING';
    await writeFile(wrong, `# comment\n\n${leaked.toLowerCase()}\n`);
    const message = await loadIdentities(wrong, 'x').then(
      () => '',
      (e: Error) => e.message,
    );
    expect(message).toMatch(/line 3, is not an age identity/);
    expect(message.toLowerCase()).not.toContain(leaked.toLowerCase());
    const good = join(dir, 'both.txt');
    await writeFile(good, `# two\n${keys[0]!.secret}\n${keys[1]!.secret}\n`);
    await expect(loadIdentities(good, 'x')).resolves.toBeDefined();
  });
});

describe('encrypted history files', () => {
  it('keep any byte in their clear copy, and a damaged copy falls back to the payload with the identity', async () => {
    const { sealObject, openObject } = await import('../../src/codec/pipeline.js');
    const { decodeHeader } = await import('../../src/codec/object-format.js');
    const { AgeIdentities } = await import('../../src/codec/age-identities.js');
    const made = await execa('age-keygen');
    const secret = /^AGE-SECRET-KEY-1\S+$/m.exec(made.stdout)![0];
    const recipient = /public key: (age1\S+)/.exec(made.stderr + made.stdout)![1]!;
    // A restore point named in a LATIN1 database: not UTF-8.
    const history = Buffer.concat([Buffer.from('1\t0/3000000\tat restore point "caf'), Buffer.from([0xe9]), Buffer.from('"\n')]);
    const sealed = await sealObject(
      history,
      { name: '00000002.history', clearCopy: true },
      { compression: 'lz4', recipients: [recipient] },
    );
    const { meta, headerLength } = decodeHeader(sealed.object, 'h');
    const stored = { what: 'h', meta, header: sealed.object.subarray(0, headerLength), payload: sealed.object.subarray(headerLength) };
    const mismatch = () => new Error('mismatch');
    expect((await openObject(stored, mismatch)).data.equals(history)).toBe(true);
    const keys = async () => new AgeIdentities([secret]);
    const damaged = { ...stored, meta: { ...meta, clear: Buffer.from('something else').toString('base64') } };
    await expect(openObject(damaged, mismatch)).rejects.toThrow('mismatch');
    expect((await openObject(damaged, mismatch, keys)).data.equals(history)).toBe(true);
    // A clear copy on a segment's header is never taken for it.
    const segment = { ...stored, meta: { ...meta, name: '000000010000000000000002' } };
    await expect(openObject(segment, mismatch)).rejects.toThrow(/is encrypted/);
  });

  it('refuses a secret key given as the identity file, and a low-order recipient', async () => {
    const message = (() => {
      try {
        loadConfig({}, { PITR_ENCRYPT_IDENTITY_FILE: 'AGE-SECRET-KEY-1QQQQSECRETISH' });
      } catch (err) {
        return (err as Error).message;
      }
      return '';
    })();
    expect(message).toMatch(/holds a secret key, not a path/);
    expect(message).not.toContain('QQQQSECRETISH');
    const { bech32 } = await import('@scure/base');
    const zero = bech32.encode('age', bech32.toWords(new Uint8Array(32)));
    const { checkRecipients } = await import('../../src/codec/age.js');
    expect(() => checkRecipients([zero])).toThrow(/not a usable X25519 public key/);
  });
});
