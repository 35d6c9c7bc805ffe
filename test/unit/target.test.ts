import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors.js';
import { parseTargetTime, parseTargetXid } from '../../src/restore/target.js';

describe('recovery target time', () => {
  it('accepts ISO 8601 and PostgreSQL text with a zone, keeping the precision', () => {
    expect(parseTargetTime('2026-11-21 14:02:59+00')).toEqual({
      text: '2026-11-21 14:02:59+00:00',
      date: new Date('2026-11-21T14:02:59Z'),
      micros: BigInt(Date.parse('2026-11-21T14:02:59Z')) * 1000n,
    });
    expect(parseTargetTime('2026-11-21T14:02:59.123456Z').text).toBe('2026-11-21 14:02:59.123456+00:00');
    // Microseconds kept for comparing with commit times (a Date keeps milliseconds).
    expect(parseTargetTime('2026-11-21T16:02:59.123456+02').micros).toBe(BigInt(Date.parse('2026-11-21T14:02:59Z')) * 1000n + 123456n);
    expect(parseTargetTime('2026-11-21T14:02:59.5Z').micros % 1_000_000n).toBe(500000n);
    expect(parseTargetTime('2026-11-21 16:02:59+0200').date).toEqual(new Date('2026-11-21T14:02:59Z'));
    expect(parseTargetTime('2026-11-21 09:02:59-05:00').date).toEqual(new Date('2026-11-21T14:02:59Z'));
    expect(parseTargetTime('2026-11-21 14:02:59 UTC').text).toBe('2026-11-21 14:02:59+00:00');
  });

  it('refuses a time without a zone as ambiguous, and nonsense as not a time', () => {
    expect(() => parseTargetTime('2026-11-21 14:02:59')).toThrow(/no time zone/);
    expect(() => parseTargetTime('yesterday')).toThrow(ConfigError);
    expect(() => parseTargetTime('2026-13-40 25:00:00Z')).toThrow(/not a valid/);
    expect(() => parseTargetTime('2026-02-31 12:00:00Z')).toThrow(/not a valid/);
  });

  it('checks transaction ids', () => {
    expect(parseTargetXid('12345')).toBe('12345');
    expect(() => parseTargetXid('abc')).toThrow(ConfigError);
    expect(() => parseTargetXid('1')).toThrow(ConfigError);
  });
});
