// Where the keys come from: the recipients (public keys) a writer encrypts to, recorded in the
// repository by fingerprint, and the identity file a reader decrypts with. An identity file's
// content is never echoed: errors name its path and line number only.
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { ConfigError, EncryptionKeyError } from '../errors.js';
import type { AgeIdentities } from './age-identities.js';

/** What the repository records of a recipient: enough to recognise it, nothing to encrypt with. */
export function recipientFingerprint(recipient: string): string {
  return `sha256:${createHash('sha256').update(recipient).digest('hex').slice(0, 16)}`;
}

/** The fingerprints of a set of recipients, sorted: two configurations name the same set when these are equal. */
export function recipientFingerprints(recipients: readonly string[]): string[] {
  return [...new Set(recipients.map(recipientFingerprint))].sort();
}

/**
 * The identities of an age identity file (what age-keygen writes: "#" comments and
 * AGE-SECRET-KEY-1… lines), loaded once per process. EncryptionKeyError naming `needs` when
 * no file is configured; ConfigError naming the path (and a line number) when it cannot be used.
 */
export async function loadIdentities(path: string | undefined, needs: string): Promise<AgeIdentities> {
  if (path === undefined) {
    throw new EncryptionKeyError(
      `${needs} is encrypted: set PITR_ENCRYPT_IDENTITY_FILE (--encrypt-identity-file) to the age identity file of one of its recipients`,
    );
  }
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new ConfigError(
      `cannot read the identity file PITR_ENCRYPT_IDENTITY_FILE=${path} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}): check the path and that this user may read it`,
    );
  }
  if (text.startsWith('age-encryption.org/') || text.startsWith('-----BEGIN AGE ENCRYPTED FILE-----'))
    throw new ConfigError(`the identity file ${path} is itself encrypted (age -p): decrypt it into a file only this user can read`);
  const identities: string[] = [];
  const lines = text.split(/\r?\n/);
  for (const [i, raw] of lines.entries()) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) continue;
    if (!/^AGE-SECRET-KEY-1[0-9A-Z]+$/.test(line))
      throw new ConfigError(
        `the identity file ${path}, line ${i + 1}, is not an age identity (AGE-SECRET-KEY-1…): give a file made by age-keygen`,
      );
    identities.push(line);
  }
  if (identities.length === 0)
    throw new ConfigError(`the identity file ${path} holds no identity (AGE-SECRET-KEY-1…): give a file made by age-keygen`);
  const { AgeIdentities } = await import('./age-identities.js');
  try {
    return new AgeIdentities(identities);
  } catch {
    throw new ConfigError(`the identity file ${path} holds a malformed identity: give a file made by age-keygen`);
  }
}

/**
 * Where a process gets its identities: the identity file, read when the first encrypted object
 * is met and kept for the next ones. Without one configured, each encrypted object is an
 * EncryptionKeyError naming it.
 */
export function identityKeys(path: string | undefined): (needs: string) => Promise<AgeIdentities> {
  let loaded: Promise<AgeIdentities> | null = null;
  return (needs) => {
    if (path === undefined) return loadIdentities(path, needs);
    // A failed load is not kept: the next object tries again (a prefetcher outlives a fixed file) and is named.
    loaded ??= loadIdentities(path, needs).catch((err: unknown) => {
      loaded = null;
      throw err;
    });
    return loaded;
  };
}
