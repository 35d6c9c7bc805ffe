// One answer to SIGINT and SIGTERM for a process with things to undo: every cleanup
// registered runs (together, each awaited, a bounded time), then the process exits as the
// signal asks (130 / 143). Two modules each exiting from their own handler would race: the
// first exit cuts the other's cleanup short (a throwaway server left running, a job never
// recorded as interrupted).

type Cleanup = (signal: NodeJS.Signals) => Promise<void> | void;

const cleanups = new Set<Cleanup>();
let exiting = false;
const CLEANUP_LIMIT_MS = 20_000;

function onSignal(signal: NodeJS.Signals): void {
  if (exiting) return;
  exiting = true;
  const all = Promise.allSettled([...cleanups].map(async (c) => c(signal)));
  const limit = new Promise((resolve) => setTimeout(resolve, CLEANUP_LIMIT_MS).unref());
  void Promise.race([all, limit]).finally(() => process.exit(signal === 'SIGINT' ? 130 : 143));
}

/** Runs `cleanup` on SIGINT/SIGTERM before the process exits; returns what unregisters it. */
export function onInterrupt(cleanup: Cleanup): () => void {
  if (cleanups.size === 0) process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  cleanups.add(cleanup);
  return () => {
    cleanups.delete(cleanup);
    if (cleanups.size === 0 && !exiting) process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  };
}
