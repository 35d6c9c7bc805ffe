// A value read from a slow source (the repository's listing), kept: asked for, it is read
// again when marked stale, one read at a time; a read that takes longer than WAIT_MS hands
// back the last value, with when it was read, while it goes on.
import type { Known } from '../api/server.js';

const WAIT_MS = 2000;

export interface LastKnown<T> {
  get(): Promise<Known<T>>;
  /** The next get() reads it again. */
  stale(): void;
}

export function lastKnown<T>(read: () => Promise<T>): LastKnown<T> {
  let last: Known<T> | null = null;
  let fresh = false;
  let reading: Promise<Known<T>> | null = null;
  const readAgain = () =>
    (reading ??= read()
      .then((value) => {
        last = { value, at: new Date() };
        fresh = true;
        return last;
      })
      .finally(() => (reading = null)));
  return {
    async get() {
      if (last && fresh) return last;
      const next = readAgain();
      if (!last) return next;
      const kept = last;
      let timer: NodeJS.Timeout | undefined;
      const waited = new Promise<Known<T>>((resolve) => (timer = setTimeout(() => resolve(kept), WAIT_MS)));
      next.catch(() => undefined); // its failure is this caller's only if it waits for it
      return Promise.race([next.catch(() => kept), waited]).finally(() => clearTimeout(timer));
    },
    stale: () => void (fresh = false),
  };
}
