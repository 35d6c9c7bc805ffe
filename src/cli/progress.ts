// Progress for long transfers (backup, restore): a self-rewriting line with bytes, rate and
// ETA on a terminal; a debug log line every 10 s otherwise, so logs stay quiet.
import type { Logger } from '../log.js';

const mib = (n: number) => (n / 1048576).toFixed(n < 10 * 1048576 ? 1 : 0);

/** Pure: "backup: 120 MiB of ~1024 MiB, 85 MiB/s, ETA 11 s". */
export function formatProgress(label: string, bytes: number, total: number, elapsedMs: number): string {
  const rate = elapsedMs > 0 ? bytes / (elapsedMs / 1000) : 0;
  const parts = [`${mib(bytes)} MiB${total > 0 ? ` of ~${mib(total)} MiB` : ''}`, `${mib(rate)} MiB/s`];
  if (total > bytes && rate > 0) parts.push(`ETA ${Math.ceil((total - bytes) / rate)} s`);
  return `${label}: ${parts.join(', ')}`;
}

export interface ProgressReporter {
  update(bytes: number, total: number): void;
  /** Clears the terminal line before the summary is printed. */
  done(): void;
}

export function progressReporter(label: string, log: Logger, stream: NodeJS.WriteStream = process.stderr): ProgressReporter {
  const started = Date.now();
  const tty = stream.isTTY === true;
  let last = 0;
  return {
    update(bytes, total) {
      const now = Date.now();
      if (now - last < (tty ? 250 : 10_000)) return;
      last = now;
      if (tty) stream.write(`\r${formatProgress(label, bytes, total, now - started)}\u001b[K`);
      else log.debug({ bytes, total }, `${label} progress`);
    },
    done() {
      if (tty) stream.write('\r\u001b[K');
    },
  };
}
