// The one polling loop: asks `check` every `everyMs` until it answers (anything but null,
// undefined or false), the time is up, or `signal` aborts. For states no event announces: a
// file another process removes, a server's log, an object in a store. Where an event exists
// (a wake pipe, inotify), the resident workers wait on that instead (archive/resident-worker.ts).
import { setTimeout as sleep } from 'node:timers/promises';

export interface WaitOptions {
  /** Give up after this long: waitUntil then resolves with null. */
  timeoutMs: number;
  /** Pause between two checks. */
  everyMs: number;
  /** Stops the wait early (resolves with null). */
  signal?: AbortSignal;
  /** Called once, the first time a check does not answer: "waiting for ...". */
  onWait?: () => void;
}

export async function waitUntil<T>(
  check: () => T | null | undefined | false | Promise<T | null | undefined | false>,
  opts: WaitOptions,
): Promise<T | null> {
  const deadline = performance.now() + opts.timeoutMs;
  for (let first = true; ; first = false) {
    const value = await check();
    if (value !== null && value !== undefined && value !== false) return value;
    if (performance.now() >= deadline || opts.signal?.aborted) return null;
    if (first) opts.onWait?.();
    try {
      await sleep(Math.min(opts.everyMs, Math.max(0, deadline - performance.now())), undefined, { signal: opts.signal });
    } catch {
      return null; // aborted
    }
  }
}
