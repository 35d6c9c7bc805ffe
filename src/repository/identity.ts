// The repository's identity object binds it to one cluster. It is created once, with a
// no-overwrite write, by `pitr init` or the first push, and checked by every push. Its `id`
// tells this repository from another one later created at the same URL (a volume swapped,
// a bucket prefix emptied and initialised again): what a data directory keeps about its
// repository (look-ahead records, the repositories it archived into) names the id, not the URL.
import { createHash, randomUUID } from 'node:crypto';
import { AlreadyExistsError, RepositoryMismatchError } from '../errors.js';
import * as v from 'valibot';
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

/**
 * Binds an unbound repository to `cluster`, or checks the existing binding. Safe against a
 * concurrent binder: the write is no-overwrite, and the loser re-reads and compares.
 */
export async function bindIdentity(
  storage: Storage,
  cluster: ClusterIdentity,
  version: string,
  source: string,
): Promise<{ identity: RepositoryIdentity; created: boolean }> {
  const identity: RepositoryIdentity = {
    format: REPOSITORY_FORMAT,
    id: randomUUID(),
    systemIdentifier: cluster.systemIdentifier,
    pgVersion: cluster.pgVersion,
    walSegmentSize: cluster.walSegmentSize,
    createdAt: new Date().toISOString(),
    createdBy: `pitr ${version}`,
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
