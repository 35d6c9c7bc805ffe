// `pitr list`: complete backups, archived WAL per timeline with its gaps, and the window a
// restore can reach.
import { defineCommand } from '../cli/command.js';
import { listBackups, type BackupManifest } from '../repository/backups.js';
import type { CommandContext } from '../cli/context.js';
import { readIdentity } from '../repository/identity.js';
import { readPins } from '../repository/pins.js';
import { describeBranch, timelineBranches } from '../repository/timeline-branches.js';
import { readHistories, walInventory, type TimelineWal, type WalInventory } from '../repository/wal-inventory.js';
import { describeWindow, restorableWindow } from '../repository/restorable-window.js';
import { openStorage } from '../storage/open.js';
import { parseLsn } from '../wal/names.js';
import { requiredSegments } from '../wal/segments.js';
import { rootHistory } from '../wal/timeline-history.js';

const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

async function listCommand({ config }: CommandContext): Promise<void> {
  const storage = await openStorage(config);
  const identity = await readIdentity(storage);
  const segmentSize = identity?.walSegmentSize ?? DEFAULT_SEGMENT_SIZE;
  // Verified: an object cut off by an interrupted upload is not archived (wal-inventory.ts).
  const [backups, inventory, pins] = await Promise.all([
    listBackups(storage),
    walInventory(storage, segmentSize, { verify: true }),
    readPins(storage),
  ]);
  const histories = await readHistories(storage, inventory.histories);
  const branches = timelineBranches(inventory, histories, segmentSize);
  const rows = backups.map((b) => ({ ...b, walComplete: backupWalPresent(b, inventory, segmentSize), pinned: pins.has(b.id) }));
  const window = await restorableWindow(
    storage,
    rows.filter((b) => b.walComplete),
    inventory,
    histories,
    segmentSize,
  );

  if (config.json) {
    process.stdout.write(
      `${JSON.stringify({ repository: storage.url, identity, backups: rows, wal: inventory.timelines, branches, restorableWindow: window })}\n`,
    );
    return;
  }
  const lines = [`repository  ${storage.url}`, 'backups'];
  if (rows.length === 0) lines.push('  none');
  for (const b of rows) {
    const f = b.files[0];
    lines.push(
      `  ${b.id}  ${b.startTime} .. ${b.stopTime}  LSN ${b.startLsn} .. ${b.stopLsn}  timeline ${b.timeline}  ` +
        `${(f.size / 1048576).toFixed(1)} MiB (stored ${(f.storedSize / 1048576).toFixed(1)} MiB)${b.pinned ? '  pinned' : ''}${b.walComplete ? '' : '  WAL MISSING: not restorable'}`,
    );
  }
  lines.push('WAL');
  if (inventory.timelines.length === 0) lines.push('  none archived');
  for (const [i, t] of inventory.timelines.entries()) lines.push(...formatTimeline(t), ...describeBranch(branches[i]!));
  lines.push(`restorable window  ${describeWindow(window)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
}

function backupWalPresent(b: BackupManifest, inventory: WalInventory, segmentSize: number): boolean {
  const needed = requiredSegments(rootHistory(b.timeline), parseLsn(b.startLsn)!, parseLsn(b.stopLsn)!, segmentSize);
  return needed.every((name) => inventory.segments.has(name));
}

function formatTimeline(t: TimelineWal): string[] {
  const head = t.first
    ? `  timeline ${t.timeline}  ${t.first} .. ${t.last}  ${t.segments} segment(s), ${t.gaps.length === 0 ? 'no gaps' : `${t.gaps.length} GAP(S)`}`
    : `  timeline ${t.timeline}  no segments`;
  const out = [head + (t.history ? ', history file' : '')];
  for (const g of t.gaps) out.push(`    missing ${g.from} .. ${g.to} (${g.missing} segment(s)): recovery cannot pass this point`);
  for (const p of t.partials) out.push(`    partial ${p}`);
  for (const name of t.incomplete)
    out.push(`    incomplete ${name}: cut off by an interrupted upload, not archived; push it again from pg_wal if it is still there`);
  for (const name of t.damaged)
    out.push(
      `    damaged ${name}: not what pitr stored under this name (header or size), not archived; restore it from another copy of the repository`,
    );
  return out;
}

export const command = defineCommand({
  name: 'list',
  describe: 'backups, archived WAL per timeline with any gaps (--json)',
  handler: listCommand,
});
