// The repository's identity object binds it to one cluster. It is created once, with a
// no-overwrite write, by `pitr init` or the first push, and checked by every push. Its `id`
// tells this repository from another one later created at the same URL (a volume swapped,
// a bucket prefix emptied and initialised again): what a data directory keeps about its
// repository (look-ahead records, the repositories it archived into) names the id, not the URL.
import { createHash, randomUUID } from 'node:crypto';
import { AlreadyExistsError, EncryptionKeyError, RepositoryMismatchError } from '../errors.js';
import * as v from 'valibot';
import { recipientFingerprints } from '../codec/age-keys.js';
import { checkDocument } from '../codec/json-document.js';
import type { Storage } from '../storage/storage.js';
import { IDENTITY_KEY } from './layout.js';

export const REPOSITORY_FORMAT = 1;

export interface ClusterIdentity {
  /** pg_control's system identifier, as decimal text (it exceeds 2^53). */
  systemIdentifier: string;
  pgVersion: number;
  walSegmentSize: number;
}

const identitySchema = v.object({
  format: v.literal(REPOSITORY_FORMAT),
  /**
   * Unique to this repository: a random UUID written at creation; for repositories created
   * before ids existed, derived from the identity object's bytes (which hold its creation time).
   * Records and pitr.repositories hold it in space-separated lines: nothing but a plain token.
   */
  id: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9-]{8,64}$/, 'not a plain token of 8 to 64 characters'))),
  systemIdentifier: v.pipe(v.string(), v.regex(/^\d+$/, 'not a system identifier')),
  pgVersion: v.pipe(v.number(), v.integer()),
  walSegmentSize: v.pipe(v.number(), v.integer(), v.minValue(1)),
  createdAt: v.string(),
  createdBy: v.string(),
  /**
   * Present when every object is encrypted (age): the fingerprints of the recipients every
   * push must encrypt to (codec/age-keys.ts), never a key. Absent: objects are stored in the
   * clear. Changed only by `pitr init --change-recipients`.
   */
  encryption: v.optional(
    v.object({
      format: v.literal('age'),
      recipients: v.pipe(v.array(v.pipe(v.string(), v.regex(/^sha256:[0-9a-f]{16}$/))), v.minLength(1)),
      since: v.string(),
    }),
  ),
});

export type RepositoryIdentity = v.InferOutput<typeof identitySchema> & { id: string };

/**
 * The identity, or null when there is none. A cut-off write (text that stops before the
 * closing brace, as a store that keeps partial uploads leaves it) also reads as none, so
 * the next bind rewrites it instead of blocking archiving forever.
 */
export async function readIdentity(storage: Storage): Promise<RepositoryIdentity | null> {
  const raw = await storage.get(IDENTITY_KEY);
  return raw === null ? null : parseIdentity(raw, storage);
}

function parseIdentity(raw: Buffer, storage: Storage): RepositoryIdentity | null {
  const what = `${storage.url}${IDENTITY_KEY}`;
  const text = raw.toString('utf8');
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    if (text.startsWith('{') && !text.trimEnd().endsWith('}')) return null;
    throw new RepositoryMismatchError(`${what} is not valid JSON: this is not a pitr repository, or it is damaged`);
  }
  // A format this pitr does not know is not damage: it says which pitr to use.
  const format = (value as { format?: unknown } | null)?.format;
  if (format !== REPOSITORY_FORMAT) {
    throw new RepositoryMismatchError(
      `${storage.url} has repository format ${String(format)}; this pitr reads format ${REPOSITORY_FORMAT}: use a matching pitr version`,
    );
  }
  const identity = checkDocument(value, identitySchema, { what, fix: 'restore it from a copy', error: RepositoryMismatchError });
  return { ...identity, id: identity.id || createHash('sha256').update(raw).digest('hex').slice(0, 32) };
}

/** Refuses a cluster that is not the one the repository is bound to. */
export function assertSameCluster(repo: RepositoryIdentity, cluster: Partial<ClusterIdentity>, storage: Storage, source: string): void {
  const differs =
    (cluster.systemIdentifier !== undefined && cluster.systemIdentifier !== repo.systemIdentifier) ||
    (cluster.walSegmentSize !== undefined && cluster.walSegmentSize !== repo.walSegmentSize) ||
    (cluster.pgVersion !== undefined && cluster.pgVersion !== repo.pgVersion);
  if (differs) {
    throw new RepositoryMismatchError(
      `repository ${storage.url} belongs to cluster ${repo.systemIdentifier} (PostgreSQL ${repo.pgVersion}, ${repo.walSegmentSize}-byte segments) ` +
        `but ${source} is from cluster ${cluster.systemIdentifier ?? '?'} (PostgreSQL ${cluster.pgVersion ?? '?'}, ${cluster.walSegmentSize ?? '?'}-byte segments): ` +
        "point PITR_REPO at this cluster's own repository",
    );
  }
}

/** The encryption record for `recipients` (none: in the clear). */
export function encryptionRecord(recipients: readonly string[] | undefined): RepositoryIdentity['encryption'] {
  return recipients === undefined
    ? undefined
    : { format: 'age', recipients: recipientFingerprints(recipients), since: new Date().toISOString() };
}

/**
 * Refuses to store into `repo` what is not encrypted to exactly its recipients: an object in
 * the clear in an encrypted repository, an encrypted one in a repository in the clear, or
 * one a key the repository does not record could read, or its recorded keys could not.
 */
export function assertSameRecipients(repo: RepositoryIdentity, recipients: readonly string[] | undefined, storage: Storage): void {
  const recorded = repo.encryption?.recipients;
  const change = 'or change what the repository records with "pitr init --change-recipients" (docs/encryption.md); nothing was stored';
  if (recorded === undefined && recipients === undefined) return;
  if (recorded === undefined)
    throw new EncryptionKeyError(
      `repository ${storage.url} stores objects in the clear, and PITR_ENCRYPT_RECIPIENTS is set: unset it, ${change}`,
    );
  if (recipients === undefined)
    throw new EncryptionKeyError(
      `repository ${storage.url} is encrypted (to ${recorded.join(', ')}): set PITR_ENCRYPT_RECIPIENTS to its recipients' public keys, ${change}`,
    );
  const given = recipientFingerprints(recipients);
  if (given.join(' ') !== recorded.join(' '))
    throw new EncryptionKeyError(
      `PITR_ENCRYPT_RECIPIENTS (${given.join(', ')}) are not the recipients repository ${storage.url} records (${recorded.join(', ')}): ` +
        `set the recorded ones, ${change}`,
    );
}

/**
 * `pitr init --change-recipients`: records `recipients` (none: objects in the clear from now
 * on) as the ones every push must encrypt to. Objects already stored keep theirs: the old
 * identity still reads them. One whole-object replace of the identity, which keeps its id.
 */
export async function changeRecipients(
  storage: Storage,
  identity: RepositoryIdentity,
  recipients: readonly string[] | undefined,
): Promise<RepositoryIdentity> {
  if (recipients) (await import('../codec/age.js')).checkRecipients(recipients);
  const { encryption: _old, ...rest } = identity;
  const encryption = encryptionRecord(recipients);
  const changed: RepositoryIdentity = { ...rest, ...(encryption ? { encryption } : {}) };
  await storage.put(IDENTITY_KEY, Buffer.from(`${JSON.stringify(changed, null, 2)}\n`));
  return changed;
}

/**
 * Binds an unbound repository to `cluster` (encrypted to `recipients`, when given), or checks
 * the existing binding. Safe against a concurrent binder: the write is no-overwrite, and the
 * loser re-reads and compares.
 */
export async function bindIdentity(
  storage: Storage,
  cluster: ClusterIdentity,
  version: string,
  source: string,
  recipients?: readonly string[],
): Promise<{ identity: RepositoryIdentity; created: boolean }> {
  // Never recorded before they are known to be keys: a typo would bind the repository to it.
  if (recipients) (await import('../codec/age.js')).checkRecipients(recipients);
  const encryption = encryptionRecord(recipients);
  const identity: RepositoryIdentity = {
    format: REPOSITORY_FORMAT,
    id: randomUUID(),
    systemIdentifier: cluster.systemIdentifier,
    pgVersion: cluster.pgVersion,
    walSegmentSize: cluster.walSegmentSize,
    createdAt: new Date().toISOString(),
    createdBy: `pitr ${version}`,
    ...(encryption ? { encryption } : {}),
  };
  const body = Buffer.from(`${JSON.stringify(identity, null, 2)}\n`);
  try {
    await storage.put(IDENTITY_KEY, body, { noOverwrite: true });
    return { identity, created: true };
  } catch (err) {
    if (!(err instanceof AlreadyExistsError)) throw err;
  }
  const existing = await readIdentity(storage);
  if (existing === null) {
    // Only a cut-off identity write reads as null here: replace it.
    await storage.put(IDENTITY_KEY, body);
    return { identity, created: true };
  }
  assertSameCluster(existing, cluster, storage, source);
  return { identity: existing, created: false };
}
