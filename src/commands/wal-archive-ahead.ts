// `pitr wal-archive-ahead`: the resident archiver, started in the background by wal-push; not for operators.
import { ARCHIVER_COMMAND, runArchiver, WARM_FOR_AGENT_ENV } from '../archive/archiver.js';
import { pushForm } from '../archive/push.js';
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { invocationFingerprint, workerFlags } from '../launcher/fingerprint.js';
import { resolveDataDir } from '../pg/data-dir.js';
import { processAlive } from '../os/process.js';
import { openStorage } from '../storage/open.js';

async function walArchiveAheadCommand({ config, log }: CommandContext): Promise<void> {
  // Started as `[flags...] wal-archive-ahead`, with the flags of the call it serves.
  const flags = workerFlags(ARCHIVER_COMMAND);
  const fingerprint = invocationFingerprint(flags);
  // The configuration changed between the call that started this worker and now: that call's
  // next one starts a worker that matches, if it can have one.
  if (fingerprint === null) return;
  const storage = await openStorage(config, { user: 'resident-archiver' });
  const agentPid = Number(process.env[WARM_FOR_AGENT_ENV]);
  const warmFor = Number.isInteger(agentPid) && agentPid > 0 ? agentPid : null;
  const stored = await runArchiver({
    storage,
    ...pushForm(config),
    dataDir: resolveDataDir(config),
    fingerprint,
    // Recomputed on every turn: a few stat calls and one hash (launcher/fingerprint.ts).
    stillConfigured: () => invocationFingerprint(flags) === fingerprint,
    lookahead: config.archiveLookahead,
    concurrency: config.archiveConcurrency,
    idleMs: 60_000,
    // Started by `pitr agent` (agent/archiver-warmth.ts): warm for as long as the agent lives,
    // so a burst of WAL never waits for Node and the store's set-up.
    stayWhile: warmFor === null ? undefined : () => processAlive(warmFor),
    log,
  });
  log.debug({ stored }, 'archiver done');
}

export const command = defineCommand({
  name: ARCHIVER_COMMAND,
  walCommand: true,
  describe: 'the resident archiver, started in the background by wal-push',
  handler: walArchiveAheadCommand,
});
