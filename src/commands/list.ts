// `pitr list`: what the repository holds. Archived WAL per timeline with its gaps; backups
// and the restorable window join this listing with `pitr backup`.
import type { CommandContext } from '../cli/context.js';
import { readIdentity } from '../repository/identity.js';
import { walInventory, type TimelineWal } from '../repository/wal-inventory.js';
import { openStorage } from '../storage/open.js';

const DEFAULT_SEGMENT_SIZE = 16 * 1024 * 1024;

export async function listCommand({ config }: CommandContext): Promise<void> {
  const storage = await openStorage(config);
  const identity = await readIdentity(storage);
  const inventory = await walInventory(storage, identity?.walSegmentSize ?? DEFAULT_SEGMENT_SIZE);
  if (config.json) {
    process.stdout.write(`${JSON.stringify({ repository: storage.url, identity, backups: [], wal: inventory.timelines })}\n`);
    return;
  }
  const lines = [`repository  ${storage.url}`, 'backups     none', 'WAL'];
  if (inventory.timelines.length === 0) lines.push('  none archived');
  for (const t of inventory.timelines) lines.push(...formatTimeline(t));
  process.stdout.write(`${lines.join('\n')}\n`);
}

function formatTimeline(t: TimelineWal): string[] {
  const head = t.first
    ? `  timeline ${t.timeline}  ${t.first} .. ${t.last}  ${t.segments} segment(s), ${t.gaps.length === 0 ? 'no gaps' : `${t.gaps.length} GAP(S)`}`
    : `  timeline ${t.timeline}  no segments`;
  const out = [head + (t.history ? ', history file' : '')];
  for (const g of t.gaps) out.push(`    missing ${g.from} .. ${g.to} (${g.missing} segment(s)): recovery cannot pass this point`);
  for (const p of t.partials) out.push(`    partial ${p}`);
  return out;
}
