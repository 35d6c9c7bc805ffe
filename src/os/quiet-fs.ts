// Synchronous file calls that treat "already gone" and "not there" as nothing to do. The
// resident workers use synchronous calls on purpose (see storage/file.ts): each asynchronous
// one is a round trip through libuv's thread pool that wakes a thread beside the database.
import { lstatSync, readdirSync, readFileSync, unlinkSync, type Stats } from 'node:fs';

/** Removes a file; one that is gone already is no error. */
export function unlinkQuietly(path: string): void {
  try {
    unlinkSync(path);
  } catch {
    // gone already
  }
}

/** A directory's entries; none when it cannot be read (it is gone). */
export function readdirQuietly(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** A path's own status (a link is not followed); null when it is not there. */
export function lstatQuietly(path: string): Stats | null {
  try {
    return lstatSync(path);
  } catch {
    return null;
  }
}

/** A small file's text; '' when it cannot be read. */
export function readTextQuietly(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}
