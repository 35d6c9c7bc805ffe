// Every JSON document pitr reads back from a repository or a data directory is checked
// against a schema before any field is used: a damaged, truncated or foreign document is an
// error that names the object and the fix, never a TypeError three calls later or a
// silently wrong value. valibot (tree-shaken into the bundle: only the checks used are
// loaded, which matters on wal-push's path) describes the shapes.
import * as v from 'valibot';
import { IntegrityError, type PitrError } from '../errors.js';

type ErrorClass = new (message: string) => PitrError;

export interface DocumentContext {
  /** The object, as the user would find it: a URL or a path. */
  what: string;
  /** What to do about a bad document: the second half of the one-line error. */
  fix: string;
  /** The error to throw (default IntegrityError, exit 7). */
  error?: ErrorClass;
}

/** Parses `text` as JSON and checks it against `schema`. */
export function parseJsonDocument<S extends v.GenericSchema>(text: string, schema: S, ctx: DocumentContext): v.InferOutput<S> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new (ctx.error ?? IntegrityError)(`${ctx.what} is damaged (not valid JSON): ${ctx.fix}`);
  }
  return checkDocument(value, schema, ctx);
}

/** Checks an already parsed value against `schema`. */
export function checkDocument<S extends v.GenericSchema>(value: unknown, schema: S, ctx: DocumentContext): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  const issue = result.issues[0];
  const path = v.getDotPath(issue) ?? '(the document)';
  throw new (ctx.error ?? IntegrityError)(`${ctx.what} is damaged (${path}: ${issue.message}): ${ctx.fix}`);
}

/** A hex SHA-256 digest. */
export const sha256Hex = v.pipe(v.string(), v.regex(/^[0-9a-f]{64}$/, 'not a SHA-256 digest'));
/** A non-negative integer count of bytes. */
export const byteCount = v.pipe(v.number(), v.integer(), v.minValue(0));
/** An ISO 8601 time. */
export const isoTime = v.pipe(v.string(), v.isoTimestamp('not an ISO 8601 time'));
