// `pitr backup`: a base backup into the repository, visible only once complete.
import { takeBackup } from '../backup/run.js';
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { progressReporter } from '../cli/progress.js';
import { runRecordedJob } from '../jobs/recorded-job.js';
import { openStorage } from '../storage/open.js';

async function backupCommand({ config, log }: CommandContext): Promise<void> {
  const storage = await openStorage(config);
  const progress = progressReporter('backup', log);
  const m = await runRecordedJob({
    storage,
    log,
    kind: 'backup',
    run: () => takeBackup({ storage, config, log, onProgress: (bytes, estimate) => progress.update(bytes, estimate) }),
    outcome: (done) => ({ status: 'passed', bytes: done.files[0].storedSize }),
  });
  progress.done();
  const file = m.files[0];
  const seconds = m.durationMs / 1000;
  log.info(
    { backup: m.id, bytes: file.size, storedBytes: file.storedSize, ms: m.durationMs, startLsn: m.startLsn, stopLsn: m.stopLsn },
    'backup complete',
  );
  process.stdout.write(
    config.json
      ? `${JSON.stringify(m)}\n`
      : `backup ${m.id}: ${(file.size / 1048576).toFixed(1)} MiB in ${seconds.toFixed(1)} s ` +
          `(${(file.size / 1048576 / Math.max(seconds, 0.001)).toFixed(0)} MiB/s), stored ${(file.storedSize / 1048576).toFixed(1)} MiB lz4; ` +
          `WAL ${m.startLsn} .. ${m.stopLsn} on timeline ${m.timeline}\n`,
  );
}

export const command = defineCommand({
  name: 'backup',
  describe: 'take a base backup into the repository (pg_basebackup, streamed and compressed)',
  handler: backupCommand,
});
