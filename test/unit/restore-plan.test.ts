import { describe, expect, it } from 'vitest';
import { testBackup } from '../support/backups.js';
import { InputError, IntegrityError, NotFoundError } from '../../src/errors.js';
import type { WalProblem } from '../../src/repository/wal-completeness.js';
import { summariseWal } from '../../src/repository/wal-inventory.js';
import { replayReach } from '../../src/repository/replay.js';
import { endPlanAt, holdsTimeStop, planRestore, xidNotBefore, type PlanInput } from '../../src/restore/plan.js';
import { confQuote } from '../../src/pg/quoting.js';
import { recoverySettings, restoreCommandFor, type RecoveryOptions } from '../../src/restore/recovery-conf.js';
import { parseRecoveryTarget, parseTargetTime, parseTimelineChoice, type RecoveryTarget } from '../../src/restore/target.js';
import { loadConfig } from '../../src/config/config.js';
import { parseTimelineHistory } from '../../src/wal/timeline-history.js';

const SEG = 16 * 1024 * 1024;
const seg = (tli: number, n: number) =>
  `${tli.toString(16).padStart(8, '0').toUpperCase()}00000000${n.toString(16).padStart(8, '0').toUpperCase()}`;

const backup = testBackup;

/** Segment N is archived at 12:00 + 2N minutes: segment 5 at 12:10, segment 9 at 12:18. */
function input(names: string[], target: RecoveryTarget, more: Partial<PlanInput> = {}): PlanInput {
  const wal = summariseWal(names, SEG);
  for (const n of names) if (n.length === 24) wal.archivedAt.set(n, new Date(Date.UTC(2026, 10, 21, 12, 2 * parseInt(n.slice(16), 16))));
  return {
    backups: [backup('20261121T120000Z-aaaa', 2, 2, '2026-11-21T12:00:30Z'), backup('20261121T121000Z-bbbb', 5, 5, '2026-11-21T12:10:30Z')],
    wal,
    histories: new Map(),
    segmentSize: SEG,
    target,
    timeline: 'latest',
    repo: 'file:///repo/',
    ...more,
  };
}
const time = (t: string): RecoveryTarget => ({ kind: 'time', time: parseTargetTime(t) });
const tl1 = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => seg(1, from + i));

describe('restore planner', () => {
  it('picks the newest backup that ended before the target time', () => {
    expect(planRestore(input(tl1(2, 9), time('2026-11-21 12:05:00Z'))).backup.id).toBe('20261121T120000Z-aaaa');
    const plan = planRestore(input(tl1(2, 9), time('2026-11-21 12:11:00Z')));
    expect(plan).toMatchObject({ timeline: 1, firstSegment: seg(1, 5), lastSegment: seg(1, 9), segmentCount: 5 });
    expect(() => planRestore(input(tl1(2, 9), time('2026-11-21 11:00:00Z')))).toThrow(/before the end of the oldest backup/);
  });

  it('orders backups by when they ended, not by their ids (which a clock reset puts out of order)', () => {
    // The newer backup got the smaller id: its host's clock was set back before it ran.
    const backups = [
      backup('20261121T130000Z-aaaa', 2, 2, '2026-11-21T12:00:30Z'),
      backup('20261121T110000Z-bbbb', 5, 5, '2026-11-21T12:10:30Z'),
    ];
    const plan = planRestore(input(tl1(2, 9), { kind: 'latest' }, { backups }));
    expect(plan.backup.id).toBe('20261121T110000Z-bbbb');
  });

  it('refuses a time the archive does not reach yet, and a gap before the target', () => {
    expect(() => planRestore(input(tl1(2, 9), time('2026-11-21 13:00:00Z')))).toThrow(/not archived yet/);
    const gapped = [...tl1(2, 6), ...tl1(8, 9)];
    expect(() => planRestore(input(gapped, time('2026-11-21 13:00:00Z')))).toThrow(
      new RegExp(`WAL ${seg(1, 7)} .. ${seg(1, 7)} is missing`),
    );
    expect(() => planRestore(input(gapped, { kind: 'latest' }))).toThrow(NotFoundError);
    // Before the gap, the same archive serves the target.
    expect(planRestore(input(gapped, time('2026-11-21 12:11:00Z'))).lastSegment).toBe(seg(1, 6));
    expect(planRestore(input(gapped, { kind: 'immediate' })).lastSegment).toBe(seg(1, 5));
  });

  it('counts a segment that is not whole as missing, and names it in the refusal', () => {
    // Segment 7 is cut off: the caller leaves it out of the inventory and says why.
    const withCut = (target: RecoveryTarget, problem: WalProblem = { state: 'incomplete', stored: 42304, expected: 84601 }) =>
      input([...tl1(2, 6), ...tl1(8, 9)], target, { unusable: new Map([[seg(1, 7), problem]]) });
    const cutOff = new RegExp(
      `archived ${seg(1, 7)} in file:///repo/ is cut off: 42304 of 84601 bytes stored .*push it again from pg_wal.*or choose an earlier target`,
    );
    expect(() => planRestore(withCut({ kind: 'latest' }))).toThrow(cutOff);
    expect(() => planRestore(withCut(time('2026-11-21 13:00:00Z')))).toThrow(NotFoundError);
    expect(() => planRestore(withCut({ kind: 'lsn', lsn: BigInt(8 * SEG) }))).toThrow(cutOff);
    expect(() =>
      planRestore(withCut({ kind: 'latest' }, { state: 'damaged', message: 'archived x is corrupted: bad header magic' })),
    ).toThrow(IntegrityError);
    // An earlier target, reached before it, is not refused.
    expect(planRestore(withCut(time('2026-11-21 12:11:00Z'))).lastSegment).toBe(seg(1, 6));
    // The newest segment cut off: --latest would ask for it at the end of the archive and stop there.
    const last = input(
      tl1(2, 8),
      { kind: 'latest' },
      { unusable: new Map([[seg(1, 9), { state: 'incomplete', stored: 100 } as WalProblem]]) },
    );
    expect(() => planRestore(last)).toThrow(new RegExp(`${seg(1, 9)} .* is cut off: 100 bytes stored, less than its header`));
    // In the backup's own WAL: another backup, not another target.
    const own = input(
      tl1(2, 4),
      { kind: 'latest' },
      { unusable: new Map([[seg(1, 5), { state: 'incomplete', stored: 100 } as WalProblem]]) },
    );
    expect(() => planRestore(own)).toThrow(/needed to make backup 20261121T121000Z-bbbb consistent.*choose another backup/);
  });

  it('refuses a history file recovery reads that is not whole', () => {
    const history2 = parseTimelineHistory(2, `1\t0/${(7 * SEG + 0x500).toString(16)}\tno recovery target specified\n`);
    const names = [...tl1(2, 8), seg(2, 7), seg(2, 8), '00000002.history', '00000003.history'];
    const cut = new Map<string, WalProblem>([['00000003.history', { state: 'incomplete', stored: 60 }]]);
    // Timeline 3's history is cut off: PostgreSQL would fetch it at the end of recovery to choose a new timeline.
    expect(() => planRestore(input(names, { kind: 'latest' }, { histories: new Map([[2, history2]]), unusable: cut }))).toThrow(
      /00000003.history .* is cut off.*to choose a new timeline/,
    );
    expect(() =>
      planRestore(input(names, { kind: 'latest' }, { histories: new Map([[2, history2]]), unusable: cut, timeline: 3 })),
    ).toThrow(/00000003.history .* is cut off.*choose another --timeline/);
  });

  it('tells how far replay from a backup reaches, along the newest timeline', () => {
    const history2 = parseTimelineHistory(2, `1\t0/${(7 * SEG + 0x500).toString(16)}\tno recovery target specified\n`);
    const { backups, ...rest } = input(
      [...tl1(2, 8), seg(2, 7), seg(2, 8), seg(2, 10)],
      { kind: 'latest' },
      { histories: new Map([[2, history2]]) },
    );
    expect(replayReach(rest, backups[0]!)).toBe(seg(2, 8));
    expect(replayReach({ ...rest, histories: new Map() }, backups[0]!)).toBe(seg(1, 8));
    expect(replayReach(input(tl1(6, 9), { kind: 'latest' }), backups[0]!)).toBeNull();
  });

  it('refuses a backup whose own WAL is incomplete', () => {
    expect(() => planRestore(input(tl1(6, 9), { kind: 'latest' }))).toThrow(/WAL of backup 20261121T121000Z-bbbb is incomplete/);
  });

  it('follows the newest timeline through its history, reading each segment from the newest timeline begun by then', () => {
    // Timeline 2 branched off timeline 1 in segment 7.
    const history2 = parseTimelineHistory(2, `1\t0/${(7 * SEG + 0x500).toString(16)}\tno recovery target specified\n`);
    const names = [...tl1(2, 8), seg(2, 7), seg(2, 8), seg(2, 9), '00000002.history'];
    const plan = planRestore(input(names, { kind: 'latest' }, { histories: new Map([[2, history2]]) }));
    expect(plan).toMatchObject({ timeline: 2, firstSegment: seg(1, 5), lastSegment: seg(2, 9), segmentCount: 5 });
    // --timeline current stays on 1, to the end of what timeline 1 archived.
    const current = planRestore(input(names, { kind: 'latest' }, { histories: new Map([[2, history2]]), timeline: 'current' }));
    expect(current).toMatchObject({ timeline: 1, lastSegment: seg(1, 8) });
  });

  it('refuses a backup taken on a timeline after it was abandoned', () => {
    const history2 = parseTimelineHistory(2, `1\t0/${(3 * SEG).toString(16)}\tbranch\n`);
    const names = [...tl1(2, 9), seg(2, 3), seg(2, 4), '00000002.history'];
    const only = input(names, { kind: 'latest' }, { histories: new Map([[2, history2]]), backupId: '20261121T121000Z-bbbb' });
    expect(() => planRestore(only)).toThrow(/is not on the history of timeline 2/);
    // Without --backup the older backup, which precedes the branch point, is chosen.
    expect(planRestore({ ...only, backupId: undefined }).backup.id).toBe('20261121T120000Z-aaaa');
  });

  it('chooses for --xid by the oldest transaction running after each backup, in circular xid order', () => {
    const backups = [
      backup('20261121T120000Z-aaaa', 2, 2, '2026-11-21T12:00:30Z', { xminAfterStop: '100' }),
      backup('20261121T121000Z-bbbb', 5, 5, '2026-11-21T12:10:30Z', { xminAfterStop: '500' }),
    ];
    expect(planRestore(input(tl1(2, 9), { kind: 'xid', xid: '300' }, { backups })).backup.id).toBe('20261121T120000Z-aaaa');
    expect(planRestore(input(tl1(2, 9), { kind: 'xid', xid: '500' }, { backups })).backup.id).toBe('20261121T121000Z-bbbb');
    expect(() => planRestore(input(tl1(2, 9), { kind: 'xid', xid: '50' }, { backups }))).toThrow(InputError);
    expect(xidNotBefore('5', '4294967000')).toBe(true); // wrapped around
    expect(xidNotBefore('4294967000', '5')).toBe(false);
    expect(xidNotBefore('4294967301', '4294967300')).toBe(true); // 64-bit xid8 values
  });
});

describe('recovery targets and settings', () => {
  it('takes exactly one target', () => {
    expect(parseRecoveryTarget({ latest: true })).toEqual({ kind: 'latest' });
    expect(parseRecoveryTarget({ lsn: '0/16B3748' })).toEqual({ kind: 'lsn', lsn: 0x16b3748n });
    expect(() => parseRecoveryTarget({})).toThrow(/say where recovery stops/);
    expect(() => parseRecoveryTarget({ latest: true, xid: '5' })).toThrow(/not --xid and --latest|--latest and --xid/);
    expect(() => parseRecoveryTarget({ lsn: '16B3748' })).toThrow(/not an LSN/);
    expect(parseTimelineChoice('current')).toBe('current');
    expect(parseTimelineChoice('3')).toBe(3);
    expect(() => parseTimelineChoice('newest')).toThrow(/latest, current or a timeline number/);
  });

  it('writes the target, action, inclusiveness and timeline, quoted for postgresql.conf', () => {
    const s = recoverySettings({
      restoreCommand: "/opt/pitr/bin/pitr --config '/etc/pitr/my conf.env' wal-fetch %f %p",
      target: time('2026-11-21 14:02:59+00'),
      timeline: 2,
      action: 'promote',
      inclusive: false,
      port: 5433,
      archiveMode: 'off',
    });
    expect(s).toEqual([
      ['restore_command', "/opt/pitr/bin/pitr --config '/etc/pitr/my conf.env' wal-fetch %f %p"],
      ['recovery_target_time', '2026-11-21 14:02:59+00:00'],
      ['recovery_target_inclusive', 'off'],
      ['recovery_target_action', 'promote'],
      ['recovery_target_timeline', '2'],
      ['port', '5433'],
      ['archive_mode', 'off'],
    ]);
    /** --latest on timeline 1, with `more` settings. */
    const latest = (more: Pick<RecoveryOptions, 'archiveMode' | 'localOnly'>) =>
      recoverySettings({ restoreCommand: 'x', target: { kind: 'latest' }, timeline: 1, action: 'promote', inclusive: true, ...more });
    expect(latest({ archiveMode: 'preserve' })).toEqual([
      ['restore_command', 'x'],
      ['recovery_target_timeline', '1'],
    ]);
    // restore-test's throwaway copy: no TCP, its own socket, hba and log directory, no certificate.
    expect(latest({ archiveMode: 'off', localOnly: { socketDir: '/tmp/rt/socket', hbaFile: '/tmp/rt/pg_hba.conf' } }).slice(2)).toEqual([
      ['archive_mode', 'off'],
      ['listen_addresses', ''],
      ['unix_socket_directories', '/tmp/rt/socket'],
      ['hba_file', '/tmp/rt/pg_hba.conf'],
      ['ssl', 'off'],
      ['log_directory', 'log'],
    ]);
    expect(confQuote("it's a \\ path")).toBe("'it''s a \\\\ path'");
  });

  it('points restore_command at this pitr and config with the effective settings, never a secret', () => {
    const config = loadConfig(
      { repo: 's3://bucket/main', 's3-endpoint': 'http://127.0.0.1:9000', 's3-force-path-style': true },
      { AWS_SECRET_ACCESS_KEY: 'hush' },
    );
    const cmd = restoreCommandFor({ ...config, configFile: '/etc/pitr/pitr.env' }, '/opt/pitr/bin/pitr');
    expect(cmd).toBe(
      '/opt/pitr/bin/pitr --config /etc/pitr/pitr.env --repo s3://bucket/main --s3-endpoint http://127.0.0.1:9000 --s3-force-path-style --s3-region us-east-1 wal-fetch %f %p',
    );
    expect(cmd).not.toContain('hush');
  });
});

describe('where a time target stops reading', () => {
  const ends = (last: string) => ({ first: { time: last, lsn: '0/1' }, last: { time: last, lsn: '0/2' } });
  it('is the segment holding a transaction end after the time (at or after it, exclusive)', () => {
    const target = time('2026-11-21 12:05:00.000001Z');
    expect(holdsTimeStop(ends('2026-11-21T12:05:00.000002Z'), target, true)).toBe(true);
    expect(holdsTimeStop(ends('2026-11-21T12:05:00.000001Z'), target, true)).toBe(false); // recovery stops only before a later one
    expect(holdsTimeStop(ends('2026-11-21T12:05:00.000001Z'), target, false)).toBe(true);
    expect(holdsTimeStop({}, target, true)).toBe(false);
    expect(holdsTimeStop(undefined, target, true)).toBe(false);
    expect(holdsTimeStop(ends('2026-11-21T13:00:00.000000Z'), { kind: 'latest' }, true)).toBe(false);
  });

  it("ends the plan there, never before the backup's own last segment", () => {
    const plan = planRestore(input(tl1(2, 9), time('2026-11-21 12:11:00Z')));
    expect(plan).toMatchObject({ firstSegment: seg(1, 5), lastSegment: seg(1, 9), segmentCount: 5 });
    expect(endPlanAt(plan, seg(1, 7), SEG)).toMatchObject({ lastSegment: seg(1, 7), segmentCount: 3 });
    expect(endPlanAt(plan, seg(1, 4), SEG)).toBe(plan);
  });
});
