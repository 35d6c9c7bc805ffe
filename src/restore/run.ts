// Restores a backup for point-in-time recovery. The order is the safety argument:
//   1. inspect the target directory and plan against the repository: nothing is written
//      until the backup, the timeline and every WAL segment replay needs are known to exist;
//      and, for an encrypted repository, until the identity is known to open it;
//   2. stream the backup in, verifying sizes and SHA-256 against its manifest;
//   3. only then write the recovery configuration: a directory without recovery.signal and
//      restore_command cannot start as a server by mistake;
//   4. on any failure after writing began, empty the directory again.
import { resolve } from 'node:path';
import type { Config } from '../config/config.js';
import { InputError, NotFoundError } from '../errors.js';
import type { Logger } from '../log.js';
import { readIdentity } from '../repository/identity.js';
import { timelineBranches } from '../repository/timeline-branches.js';
import { findUnusableWal, findUnusableWalUntil } from '../repository/wal-completeness.js';
import { readHistories, walInventory } from '../repository/wal-inventory.js';
import type { Storage } from '../storage/storage.js';
import { historyFileName } from '../wal/names.js';
import { explainBranch, planAcrossBranches, type BranchChoice } from './branch-choice.js';
import { extractBackup } from './extract.js';
import { checkIdentityOpens } from './key-check.js';
import { identityKeys } from '../codec/age-keys.js';
import { checkTimeReachable, endPlanAt, holdsTimeStop, replaySegments, type RestorePlan } from './plan.js';
import { lastTransactionEnd } from '../repository/last-transaction.js';
import { byStopTime, listBackups } from '../repository/backups.js';
import { recoverySettings, restoreCommandFor, writeRecoveryConfig, type RecoveryAction, type RecoveryOptions } from './recovery-conf.js';
import { startAndFollowRecovery, startCommandFor, type RecoveryOutcome } from './server.js';
import { describeTarget, type RecoveryTarget, type TimelineChoice } from './target.js';
import { discardTargetDir, inspectTargetDir, prepareTargetDir, readableBy } from './target-dir.js';

export interface RestoreOptions {
  storage: Storage;
  config: Config;
  log: Logger;
  targetDir: string;
  target: RecoveryTarget;
  timeline: TimelineChoice;
  backupId?: string;
  action: RecoveryAction;
  inclusive: boolean;
  force: boolean;
  start: boolean;
  port?: number;
  archiveMode: 'preserve' | 'off';
  /** A throwaway copy, reachable only through a Unix socket in its own directory (restore-test). */
  localOnly?: RecoveryOptions['localOnly'];
  /** Absolute path of the pitr the restored server runs as restore_command. */
  pitrPath: string;
  onProgress?: (bytes: number, total: number) => void;
  /** Called once the plan stands, before anything is written: which timeline branch it follows. */
  onPlanned?: (plan: RestorePlan, branch: BranchChoice) => void | Promise<void>;
}

export interface RestoreReport {
  dir: string;
  plan: RestorePlan;
  /** The timeline branch followed and why, and the branches not followed. */
  branch: BranchChoice;
  archiveMode: RestoreOptions['archiveMode'];
  restoreCommand: string;
  bytes: number;
  restoreMs: number;
  /** Present with --start. */
  recovery?: RecoveryOutcome;
  /** Without --start: how to start the server. */
  startCommand: string;
}

export async function restore(o: RestoreOptions): Promise<RestoreReport> {
  const started = Date.now();
  const dir = await inspectTargetDir(o.targetDir, o.force);
  const { plan, branch } = await planFromRepository(o);
  await o.onPlanned?.(plan, branch);
  o.log.info(
    {
      backup: plan.backup.id,
      timeline: plan.timeline,
      firstWal: plan.firstSegment,
      lastWal: plan.lastSegment,
      segments: plan.segmentCount,
      target: describeTarget(o.target),
      notFollowed: branch.notFollowed.map((b) => b.timeline),
    },
    'restore planned',
  );
  const restoreCommand = restoreCommandFor(o.config, o.pitrPath);
  if (o.config.configFile && !(await readableBy(resolve(o.config.configFile), dir.owner))) {
    throw new InputError(
      `the restored server runs restore_command as ${dir.owner?.name ?? 'its owner'}, who cannot read ${o.config.configFile}: chgrp it to that user's group and chmod 640`,
    );
  }

  const file = plan.backup.files[0];
  const keys = identityKeys(o.config.identityFile);
  const encrypted = await checkIdentityOpens(o.storage, keys, file, [plan.firstSegment, plan.lastSegment]);
  const identityFile = o.config.identityFile;
  if (encrypted && identityFile && !(await readableBy(resolve(identityFile), dir.owner))) {
    throw new InputError(
      `the restored server runs restore_command as ${dir.owner?.name ?? 'its owner'}, who cannot read the identity file ${identityFile}: chown it to that user and chmod 600`,
    );
  }

  await prepareTargetDir(dir);
  try {
    await extractBackup({
      storage: o.storage,
      file,
      dir: dir.path,
      owner: dir.owner,
      pgVersion: plan.backup.pgVersion,
      log: o.log,
      keys,
      onProgress: (b) => o.onProgress?.(b, file.storedSize),
    });
    const settings = recoverySettings({
      restoreCommand,
      target: o.target,
      timeline: plan.timeline,
      action: o.action,
      inclusive: o.inclusive,
      port: o.port,
      archiveMode: o.archiveMode,
      localOnly: o.localOnly,
    });
    await writeRecoveryConfig(
      dir.path,
      settings,
      `pitr restore ${new Date().toISOString()}: backup ${plan.backup.id}, target ${describeTarget(o.target)}`,
      dir.owner,
    );
  } catch (err) {
    await discardTargetDir(dir).catch((e) =>
      o.log.error({ err: e }, `could not clean ${dir.path} after the failed restore: remove it by hand`),
    );
    throw err;
  }
  const restoreMs = Date.now() - started;
  const report: RestoreReport = {
    dir: dir.path,
    plan,
    branch,
    archiveMode: o.archiveMode,
    restoreCommand,
    bytes: file.size,
    restoreMs,
    startCommand: startCommandFor(dir.path, plan.backup.pgVersion, dir.owner),
  };
  if (o.start)
    report.recovery = await startAndFollowRecovery({
      dir: dir.path,
      pgVersion: plan.backup.pgVersion,
      owner: dir.owner,
      action: o.action,
      log: o.log,
    });
  return report;
}

async function planFromRepository(o: RestoreOptions): Promise<{ plan: RestorePlan; branch: BranchChoice }> {
  const identity = await readIdentity(o.storage);
  if (!identity) throw new NotFoundError(`${o.storage.url} holds no pitr repository: check --repo / PITR_REPO`);
  const segmentSize = identity.walSegmentSize;
  const [backups, wal] = await Promise.all([listBackups(o.storage), walInventory(o.storage, segmentSize)]);
  // Names are not enough: an interrupted upload can leave part of an object under its real
  // name (repository/wal-completeness.ts). The history files, the few there are, are checked
  // before they are read; one that is not whole counts as absent, and the plan refuses it if
  // recovery would read it.
  const unusable = await findUnusableWal(o.storage, [...wal.histories].map(historyFileName));
  const histories = await readHistories(
    o.storage,
    [...wal.histories].filter((tli) => !unusable.has(historyFileName(tli))),
  );
  const branches = timelineBranches(wal, histories, segmentSize);
  const whole = new Set<string>();
  for (;;) {
    const plan = planAcrossBranches(
      {
        backups,
        wal,
        histories,
        segmentSize,
        target: o.target,
        timeline: o.timeline,
        backupId: o.backupId,
        repo: o.storage.url,
        unusable,
      },
      branches,
    );
    // Then every segment replay will read, before anything is written. One that is not whole
    // counts as missing and the plan is made again: it then ends before that segment or
    // refuses, naming it. The new chain is part of the one checked: nothing is read twice.
    // A time target: recovery stops before the first transaction end after it, and reads no
    // segment past the one holding it; checking stops there too (the headers' transactionEnds).
    const unchecked = replaySegments(plan, segmentSize).filter((name) => !whole.has(name));
    const target = o.target;
    const { problems, stoppedAt } =
      target.kind === 'time'
        ? await findUnusableWalUntil(o.storage, unchecked, (meta) => holdsTimeStop(meta.transactionEnds, target, o.inclusive))
        : { problems: await findUnusableWal(o.storage, unchecked), stoppedAt: null };
    const read = stoppedAt === null ? unchecked : unchecked.slice(0, unchecked.indexOf(stoppedAt) + 1);
    if (problems.size === 0) {
      if (stoppedAt !== null) {
        const ending = endPlanAt(plan, stoppedAt, segmentSize);
        return { plan: ending, branch: explainBranch(ending, o.timeline, branches, histories) };
      }
      if (o.target.kind === 'time') {
        const last = await lastTransactionEnd(o.storage, plan.backup, plan.history, plan.lastSegment, segmentSize);
        const oldest = [...backups].sort(byStopTime)[0]!;
        checkTimeReachable(plan, o.target, o.inclusive, last, oldest.stopTime, o.storage.url);
      }
      return { plan, branch: explainBranch(plan, o.timeline, branches, histories) };
    }
    for (const name of read) if (!problems.has(name)) whole.add(name);
    for (const [name, problem] of problems) {
      wal.segments.delete(name);
      unusable.set(name, problem);
    }
  }
}
