// The identities a reader decrypts with: the age-encryption package, by age's author, unwraps
// a header's file key with them and checks the header's MAC. Apart from age.ts because the
// package takes ~60 ms to load: the writers (wal-push, the archiver, backup) never load it.
import { Decrypter } from 'age-encryption';
import { EncryptionKeyError, IntegrityError } from '../errors.js';
import { ageOpen, type HeaderUnwrapper } from './age.js';
import { parseAgeHeader } from './age-header.js';

/**
 * The identities a reader decrypts with (AGE-SECRET-KEY-1… lines), made once: each identity
 * costs a scalar multiplication to set up.
 */
export class AgeIdentities implements HeaderUnwrapper {
  private readonly decrypter = new Decrypter();

  constructor(identities: readonly string[]) {
    for (const id of identities) this.decrypter.addIdentity(id);
  }

  /** The file key of a header: EncryptionKeyError naming `what` when no identity matches, IntegrityError when the header was tampered with. */
  async unwrap(header: Buffer, what: string): Promise<Uint8Array> {
    try {
      return await this.decrypter.decryptHeader(header);
    } catch (err) {
      const message = (err as Error).message;
      if (/no identity matched/.test(message))
        throw new EncryptionKeyError(
          `${what} is encrypted to other keys than this identity's: set PITR_ENCRYPT_IDENTITY_FILE to the identity of a recipient it was written to`,
        );
      throw new IntegrityError(`${what} has a damaged age header (${message}): restore it from another copy`);
    }
  }
}

/** Decrypts a whole age file with the first identity a recipient stanza was made for. */
export async function ageDecrypt(file: Buffer, identities: AgeIdentities | readonly string[], what: string): Promise<Buffer> {
  const parsed = parseAgeHeader(file);
  if (parsed === 'not-age' || parsed === 'incomplete') {
    throw new IntegrityError(`${what} is not an age-encrypted file (no age header): it was stored without encryption, or is damaged`);
  }
  const ids = identities instanceof AgeIdentities ? identities : new AgeIdentities(identities);
  return ageOpen(file.subarray(0, parsed.length), file.subarray(parsed.length), ids, what);
}
