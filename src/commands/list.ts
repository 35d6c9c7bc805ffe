// `pitr list`: complete backups, archived WAL per timeline with its gaps, and the window a
// restore can reach.
import { defineCommand } from '../cli/command.js';
import type { CommandContext } from '../cli/context.js';
import { listRepository, type ListedBackup } from '../repository/listing.js';
import { describeBranch } from '../repository/timeline-branches.js';
import type { TimelineWal } from '../repository/wal-inventory.js';
import { describeWindow } from '../repository/restorable-window.js';
import { openStorage } from '../storage/open.js';

async function listCommand({ config }: CommandContext): Promise<void> {
  const listing = await listRepository(await openStorage(config));
  if (config.json) {
    process.stdout.write(`${JSON.stringify(listing)}\n`);
    return;
  }
  const { backups: rows, wal, branches, restorableWindow: window } = listing;
  const lines = [`repository  ${listing.repository}`, 'backups'];
  if (rows.length === 0) lines.push('  none');
  for (const b of rows) {
    const f = b.files[0];
    lines.push(
      `  ${b.id}  ${b.startTime} .. ${b.stopTime}  LSN ${b.startLsn} .. ${b.stopLsn}  timeline ${b.timeline}  ` +
        `${(f.size / 1048576).toFixed(1)} MiB (stored ${(f.storedSize / 1048576).toFixed(1)} MiB)${b.pinned ? '  pinned' : ''}${verifiedText(b.verified)}${b.walComplete ? '' : '  WAL MISSING: not restorable'}`,
    );
  }
  lines.push('WAL');
  if (wal.length === 0) lines.push('  none archived');
  for (const [i, t] of wal.entries()) lines.push(...formatTimeline(t), ...describeBranch(branches[i]!));
  lines.push(`restorable window  ${describeWindow(window)}`);
  process.stdout.write(`${lines.join('\n')}\n`);
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

function verifiedText(v: ListedBackup['verified']): string {
  if (!v) return '';
  return `  verified ${v.at.slice(0, 16).replace('T', ' ')} UTC: ${v.result === 'passed' ? 'passed' : `FAILED (${v.problems} problem(s): pitr verify --backup ID names them)`}`;
}
