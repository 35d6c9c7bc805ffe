// Repository health for `pitr status`: identity, the newest archived WAL per timeline, the
// newest backup.
import { newestBackup } from '../repository/backups.js';
import { readIdentity, type RepositoryIdentity } from '../repository/identity.js';
import { timelineTips } from '../repository/wal-inventory.js';
import type { Storage } from '../storage/storage.js';

export interface StatusReport {
  repository: string;
  identity: RepositoryIdentity | null;
  timelines: { timeline: string; lastWal: string | null; lastArchivedAt: string | null; ageSeconds: number | null }[];
  lastBackup: { id: string; stopTime: string; ageSeconds: number } | null;
  healthy: boolean;
  problems: string[];
}

export async function collectStatus(storage: Storage, now = new Date()): Promise<StatusReport> {
  const identity = await readIdentity(storage);
  const [tips, backup] = await Promise.all([timelineTips(storage), newestBackup(storage)]);
  const age = (at: Date) => Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000));
  const lastBackup = backup ? { id: backup.id, stopTime: backup.stopTime, ageSeconds: age(new Date(backup.stopTime)) } : null;
  const timelines = tips.map((t) => ({
    timeline: t.timeline,
    lastWal: t.lastWal?.name ?? null,
    lastArchivedAt: t.lastWal?.archivedAt.toISOString() ?? null,
    ageSeconds: t.lastWal ? age(t.lastWal.archivedAt) : null,
  }));
  const problems: string[] = [];
  if (!identity) problems.push('repository is not initialised: run "pitr init" or let archive_command push the first WAL');
  if (!timelines.some((t) => t.lastWal))
    problems.push('no WAL archived yet: check archive_mode and archive_command, and the PostgreSQL log');
  return { repository: storage.url, identity, timelines, lastBackup, healthy: problems.length === 0, problems };
}

export function formatStatus(report: StatusReport): string {
  const lines = [`repository  ${report.repository}`];
  const id = report.identity;
  lines.push(
    id
      ? `cluster     ${id.systemIdentifier} (PostgreSQL ${id.pgVersion}, ${id.walSegmentSize / 1048576} MiB WAL segments), bound ${id.createdAt}`
      : 'cluster     (not bound)',
  );
  for (const t of report.timelines) {
    lines.push(
      `timeline ${parseInt(t.timeline, 16)}  ` +
        (t.lastWal ? `last WAL ${t.lastWal} archived ${t.lastArchivedAt} (${t.ageSeconds} s ago)` : 'no segments (history only)'),
    );
  }
  const b = report.lastBackup;
  lines.push(b ? `last backup ${b.id}, ended ${b.stopTime} (${b.ageSeconds} s ago)` : 'last backup none: run "pitr backup"');
  lines.push(`status      ${report.healthy ? 'healthy' : 'UNHEALTHY'}`);
  for (const p of report.problems) lines.push(`  - ${p}`);
  return `${lines.join('\n')}\n`;
}
