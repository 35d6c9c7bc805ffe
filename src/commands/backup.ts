// `pitr backup`: a base backup into the repository, visible only once complete.
import { formatProgress } from '../backup/progress.js';
import { takeBackup } from '../backup/run.js';
import type { CommandContext } from '../cli/context.js';
import { openStorage } from '../storage/open.js';

export async function backupCommand({ config, log }: CommandContext): Promise<void> {
  const storage = await openStorage(config);
  const started = Date.now();
  const tty = process.stderr.isTTY === true;
  let last = 0;
  const onProgress = (bytes: number, estimate: number) => {
    const now = Date.now();
    if (now - last < (tty ? 250 : 10_000)) return;
    last = now;
    if (tty) process.stderr.write(`\r${formatProgress(bytes, estimate, now - started)}\u001b[K`);
    else log.debug({ bytes, estimate }, 'backup progress');
  };
  const m = await takeBackup({ storage, config, log, onProgress });
  if (tty) process.stderr.write('\r\u001b[K');
  const file = m.files[0]!;
  const seconds = m.durationMs / 1000;
  log.info({ backup: m.id, bytes: file.size, storedBytes: file.storedSize, ms: m.durationMs, startLsn: m.startLsn, stopLsn: m.stopLsn }, 'backup complete');
  process.stdout.write(
    config.json
      ? `${JSON.stringify(m)}\n`
      : `backup ${m.id}: ${(file.size / 1048576).toFixed(1)} MiB in ${seconds.toFixed(1)} s ` +
          `(${(file.size / 1048576 / Math.max(seconds, 0.001)).toFixed(0)} MiB/s), stored ${(file.storedSize / 1048576).toFixed(1)} MiB lz4; ` +
          `WAL ${m.startLsn} .. ${m.stopLsn} on timeline ${m.timeline}\n`,
  );
}
