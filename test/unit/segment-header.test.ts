import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { parseWalFileName } from '../../src/wal/names.js';
import { checkSegmentMatchesName, readSegmentHeader } from '../../src/wal/segment-header.js';

const SEG = 16 * 1024 * 1024;

/** A long page header as PostgreSQL 15 writes it at the start of a segment. */
function header(pageAddress: bigint, sysid = 7301234567890123456n, magic = 0xd110): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt16LE(magic, 0);
  b.writeUInt16LE(0x0002, 2); // XLP_LONG_HEADER
  b.writeUInt32LE(1, 4);
  b.writeBigUInt64LE(pageAddress, 8);
  b.writeBigUInt64LE(sysid, 24);
  b.writeUInt32LE(SEG, 32);
  b.writeUInt32LE(8192, 36);
  return b;
}

describe('segment header', () => {
  it('reads version, system identifier and segment size', () => {
    expect(readSegmentHeader(header(0x3000000n), 'x')).toEqual({
      pgVersion: 15,
      systemIdentifier: '7301234567890123456',
      segmentSize: SEG,
      pageAddress: 0x3000000n,
    });
  });

  it('refuses a file whose content does not match its name or size', () => {
    const file = parseWalFileName('000000010000000000000003')!;
    const h = readSegmentHeader(header(0x3000000n), 'x');
    expect(() => checkSegmentMatchesName(h, file, SEG, 'x')).not.toThrow();
    expect(() => checkSegmentMatchesName(h, parseWalFileName('000000010000000000000004')!, SEG, 'x')).toThrow(/its name says 0\/4000000/);
    expect(() => checkSegmentMatchesName(h, file, SEG - 1, 'x')).toThrow(/truncated/);
  });

  it('refuses what is not a WAL segment', () => {
    expect(() => readSegmentHeader(Buffer.alloc(64), 'zeros')).toThrow(InputError);
    expect(() => readSegmentHeader(header(0n, 1n, 0xbeef), 'x')).toThrow(/page magic 0xbeef/);
    expect(() => readSegmentHeader(Buffer.alloc(10), 'short')).toThrow(/too short/);
  });
});
