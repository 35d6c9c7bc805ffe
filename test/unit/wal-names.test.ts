import { describe, expect, it } from 'vitest';
import { walObjectKey } from '../../src/repository/layout.js';
import { formatLsn, parseLsn, parseWalFileName, segmentStartLsn } from '../../src/wal/names.js';

describe('WAL file names', () => {
  it('classifies every archivable kind and rejects the rest', () => {
    expect(parseWalFileName('000000010000000A000000FF')).toMatchObject({
      kind: 'segment',
      timeline: '00000001',
      log: '0000000A',
      seg: '000000FF',
    });
    expect(parseWalFileName('000000020000000000000003.partial')?.kind).toBe('partial');
    expect(parseWalFileName('000000010000000000000002.00000028.backup')?.kind).toBe('backup');
    expect(parseWalFileName('0000000A.history')).toMatchObject({ kind: 'history', timeline: '0000000A' });
    for (const bad of [
      '00000001000000000000000g',
      '000000010000000000000001.tmp',
      'archive_status',
      '../etc/passwd',
      '0000000100000000000000011',
    ]) {
      expect(parseWalFileName(bad)).toBeNull();
    }
  });

  it('computes object keys from the name alone, grouped by timeline and log', () => {
    expect(walObjectKey(parseWalFileName('000000010000000A000000FF')!)).toBe('wal/000000010000000A/000000010000000A000000FF');
    expect(walObjectKey(parseWalFileName('000000010000000A000000FF.partial')!)).toBe(
      'wal/000000010000000A/000000010000000A000000FF.partial',
    );
    expect(walObjectKey(parseWalFileName('00000002.history')!)).toBe('wal/00000002.history');
  });
});

describe('LSN math', () => {
  it('maps a segment name to its start LSN for any segment size', () => {
    expect(formatLsn(segmentStartLsn(parseWalFileName('000000010000000000000003')!, 16 * 1024 * 1024))).toBe('0/3000000');
    expect(formatLsn(segmentStartLsn(parseWalFileName('0000000100000016000000B3')!, 16 * 1024 * 1024))).toBe('16/B3000000');
    // 1 MiB segments: 4096 per log.
    expect(formatLsn(segmentStartLsn(parseWalFileName('000000010000000200000A01')!, 1024 * 1024))).toBe('2/A0100000');
  });

  it('parses and formats beyond 2^53', () => {
    const lsn = parseLsn('FFFFFFFF/FFFFFFFF')!;
    expect(lsn).toBe(2n ** 64n - 1n);
    expect(formatLsn(lsn)).toBe('FFFFFFFF/FFFFFFFF');
    expect(parseLsn('16/b374d848')).toBe(0x16b374d848n);
    expect(parseLsn('nonsense')).toBeNull();
  });
});
