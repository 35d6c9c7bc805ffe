// The agent's judgement between two health watches: schedules read by croner (5 or 6 fields,
// off), one notification per change of a check, missed schedules, and the archiver's command
// line made from archive_command.
import { describe, expect, it } from 'vitest';
import { archiverCommandLine } from '../../src/agent/archiver-warmth.js';
import { healthChanges } from '../../src/agent/health-changes.js';
import { missedSchedules } from '../../src/agent/missed-schedules.js';
import { failingChecks } from '../../src/agent/watch.js';
import { parseSchedules } from '../../src/agent/schedules.js';
import { ConfigError } from '../../src/errors.js';
import type { JobView } from '../../src/repository/job-history.js';

const settings = (backup: string, verify = 'off', restoreTest = 'off') => ({
  schedules: { backup, verify, 'restore-test': restoreTest, dump: 'off' },
  watchIntervalMs: 60_000,
});

describe('schedules', () => {
  it('reads 5 and 6 fields, leaves out "off", and refuses anything else naming the key', () => {
    const [backup, verify] = parseSchedules(settings('0 2 * * *', '*/10 * * * * *'), 'UTC');
    expect(backup!.next(new Date('2026-12-05T01:00:00Z'))?.toISOString()).toBe('2026-12-05T02:00:00.000Z');
    expect(backup!.previous(new Date('2026-12-05T02:00:00Z'))?.toISOString()).toBe('2026-12-05T02:00:00.000Z');
    expect(verify!.next(new Date('2026-12-05T01:00:05Z'))?.toISOString()).toBe('2026-12-05T01:00:10.000Z');
    expect(parseSchedules(settings('off'), 'UTC')).toEqual([]);
    expect(() => parseSchedules(settings('0 2 * *'), 'UTC')).toThrow(/PITR_SCHEDULE_BACKUP "0 2 \* \*" has 4 field/);
    expect(() => parseSchedules(settings('0 0 2 * * * 2027'), 'UTC')).toThrow(ConfigError);
    expect(() => parseSchedules(settings('61 2 * * *'), 'UTC')).toThrow(/PITR_SCHEDULE_BACKUP "61 2 \* \* \*" is not a cron expression/);
    // In the zone given: 02:00 in Paris is 01:00 UTC in winter.
    const [paris] = parseSchedules(settings('0 2 * * *'), 'Europe/Paris');
    expect(paris!.next(new Date('2026-12-05T00:00:00Z'))?.toISOString()).toBe('2026-12-05T01:00:00.000Z');
  });
});

describe('health changes', () => {
  it('notifies a check once when it begins to fail and once when it recovers, whatever its wording meanwhile', () => {
    const t = (m: number) => new Date(Date.UTC(2026, 11, 5, 10, m));
    const first = healthChanges({}, [{ check: 'archiving', message: 'backlog 3 for 16m' }], t(0));
    expect(first.changes).toEqual([{ check: 'archiving', status: 'failing', since: t(0).toISOString(), message: 'backlog 3 for 16m' }]);
    const second = healthChanges(
      first.notified,
      [
        { check: 'archiving', message: 'backlog 9 for 17m' },
        { check: 'backup', message: 'the last backup job failed' },
      ],
      t(1),
    );
    expect(second.changes.map((c) => [c.check, c.status])).toEqual([['backup', 'failing']]);
    const third = healthChanges(second.notified, [{ check: 'backup', message: 'the last backup job failed' }], t(2));
    expect(third.changes).toEqual([{ check: 'archiving', status: 'recovered', since: t(0).toISOString(), message: 'backlog 3 for 16m' }]);
    expect(healthChanges(third.notified, [{ check: 'backup', message: 'other words' }], t(3)).changes).toEqual([]);
    // Two problems of one check are one message.
    const two = healthChanges(
      {},
      [
        { check: 'archiving', message: 'a' },
        { check: 'archiving', message: 'b' },
      ],
      t(4),
    );
    expect(two.changes.map((c) => c.message)).toEqual(['a; b']);
  });
});

describe('missed schedules', () => {
  const [daily] = parseSchedules(settings('0 2 * * *'), 'UTC');
  const job = (startedAt: string, status: JobView['status'] = 'passed'): JobView => ({
    id: 'x',
    kind: 'backup',
    status,
    host: 'h',
    trigger: 'schedule',
    startedAt,
    durationSeconds: 1,
    bytes: 1,
    error: null,
  });
  const grace = 10 * 60_000;
  const watched = () => new Date('2026-12-01T00:00:00Z');

  it('names a run that came due while the agent watched and never started', () => {
    const now = new Date('2026-12-05T03:00:00Z');
    const [missed] = missedSchedules([daily!], [job('2026-12-04T02:00:01Z')], watched, now, grace);
    expect(missed?.check).toBe('backup');
    expect(missed?.message).toMatch(
      /the backup scheduled for 2026-12-05T02:00:00.000Z \(PITR_SCHEDULE_BACKUP "0 2 \* \* \*"\) has not started/,
    );
  });

  it('is quiet when the job started (even a second early, or skipped because one ran), within the grace, or before the agent watched', () => {
    expect(missedSchedules([daily!], [job('2026-12-05T02:00:03Z')], watched, new Date('2026-12-05T03:00:00Z'), grace)).toEqual([]);
    expect(missedSchedules([daily!], [job('2026-12-05T01:59:59Z')], watched, new Date('2026-12-05T03:00:00Z'), grace)).toEqual([]);
    expect(missedSchedules([daily!], [job('2026-12-05T02:00:00Z', 'skipped')], watched, new Date('2026-12-05T03:00:00Z'), grace)).toEqual(
      [],
    );
    expect(missedSchedules([daily!], [job('2026-12-04T02:00:01Z')], watched, new Date('2026-12-05T02:05:00Z'), grace)).toEqual([]);
    expect(missedSchedules([daily!], [], () => new Date('2026-12-05T02:30:00Z'), new Date('2026-12-05T03:00:00Z'), grace)).toEqual([]);
  });
});

describe('the archiver started as PostgreSQL would', () => {
  it("turns archive_command's wal-push %p into wal-archive-ahead, keeping its flags; anything else is not pitr's", () => {
    expect(archiverCommandLine("'/usr/bin/pitr' --config '/etc/pitr/pitr.env' wal-push %p")).toBe(
      "'/usr/bin/pitr' --config '/etc/pitr/pitr.env' wal-archive-ahead",
    );
    expect(archiverCommandLine('pitr wal-push "%p" ')).toBe('pitr wal-archive-ahead');
    expect(archiverCommandLine('cp %p /mnt/archive/%f')).toBeNull();
    expect(archiverCommandLine('pitr wal-push %p && echo done')).toBeNull();
  });
});

describe('what the agent counts as failing', () => {
  const [daily] = parseSchedules(settings('0 2 * * *'), 'UTC');
  const w = {
    schedules: [daily!],
    notified: { backup: { since: '2026-12-05T01:00:00.000Z', message: 'the last backup job failed' } },
    watchedSince: () => new Date('2026-12-01T00:00:00Z'),
    channels: [],
    now: new Date('2026-12-05T03:00:00Z'),
  };

  it('keeps what was failing while the repository cannot be read, and judges no schedule then', () => {
    const report = {
      failing: [{ check: 'repository' as const, message: 'repository file:///x cannot be read' }],
      repositoryReachable: false,
      jobs: [],
      database: { reachable: true },
    };
    expect(failingChecks(report, w, 600_000).map((f) => f.check)).toEqual(['repository', 'backup']);
    // Readable again with no backup problem: backup recovers, and the missed 02:00 run is named.
    const readable = { ...report, failing: [], repositoryReachable: true };
    expect(failingChecks(readable, w, 600_000)).toEqual([{ check: 'backup', message: expect.stringMatching(/has not started/) }]);
  });

  it("adds the agent's own failing channels, and ignores what the repository last said of them", () => {
    const report = {
      failing: [{ check: 'notify' as const, message: 'stale, from state.json' }],
      repositoryReachable: true,
      jobs: [],
      database: { reachable: true },
    };
    const channel = {
      name: 'webhook',
      target: 'http://127.0.0.1:1',
      healthy: false,
      failingSince: 'T',
      failedAttempts: 3,
      lastError: 'refused',
    };
    const failing = failingChecks(report, { ...w, schedules: [], channels: [channel] }, 600_000);
    expect(failing).toEqual([
      { check: 'notify', message: expect.stringMatching(/^notification channel webhook \(http:\/\/127.0.0.1:1\) has failed 3 time/) },
    ]);
  });
});
