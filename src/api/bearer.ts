// The POST routes' bearer token, compared in constant time: both sides are hashed first, so
// neither the token's bytes nor its length show in how long a refusal takes.
import { createHash, timingSafeEqual } from 'node:crypto';

/** 'read-only': no token is configured, so nothing may be started over HTTP. */
export type Authorization = 'ok' | 'missing' | 'wrong' | 'read-only';

export function authorize(header: string | undefined, token: string | undefined): Authorization {
  if (token === undefined) return 'read-only';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header ?? '');
  if (!m) return 'missing';
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(m[1]!), digest(token)) ? 'ok' : 'wrong';
}
