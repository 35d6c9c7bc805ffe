// A backup manifest for unit tests of planning and listing: timeline 1, 16 MiB segments,
// starting in segment `startSeg` and stopping in `stopSeg`, with one stored file.
import type { BackupManifest } from '../../src/repository/backups.js';

export const SEG = 16 * 1024 * 1024;
/** Segment `n` of timeline `tli`, by name. */
export const segmentName = (tli: number, n: number) =>
  `${tli.toString(16).toUpperCase().padStart(8, '0')}00000000${n.toString(16).toUpperCase().padStart(8, '0')}`;

export function testBackup(
  id: string,
  startSeg: number,
  stopSeg: number,
  stopTime: string,
  extra: Partial<BackupManifest> = {},
): BackupManifest {
  return {
    format: 1,
    id,
    label: id,
    pitrVersion: 'test',
    systemIdentifier: '1',
    pgVersion: 15,
    timeline: 1,
    startLsn: `0/${(startSeg * SEG + 0x28).toString(16).toUpperCase()}`,
    stopLsn: `0/${(stopSeg * SEG + 0x100).toString(16).toUpperCase()}`,
    startWal: segmentName(1, startSeg),
    stopWal: segmentName(1, stopSeg),
    startTime: stopTime,
    stopTime,
    durationMs: 1,
    files: [
      { key: `backups/${id}/base.tar.lz4`, name: 'base.tar', compression: 'lz4', size: 1, storedSize: 1, storedSha256: '0'.repeat(64) },
    ],
    ...extra,
  };
}
