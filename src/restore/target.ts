// Recovery targets as an operator types them, checked before anything is written. Pure.
import { ConfigError } from '../errors.js';

export interface TargetTime {
  /** For recovery_target_time: ISO date, time with the operator's precision, explicit offset. */
  text: string;
  date: Date;
}

const TIME = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,6}))?)?\s*(Z|UTC|GMT|[+-]\d{2}(?::?\d{2})?)$/i;

/**
 * ISO 8601 or PostgreSQL timestamp text, with a zone: "2026-11-21 14:02:59+00",
 * "2026-11-21T14:02:59.5Z", "2026-11-21 14:02:59 UTC". A time without a zone is refused: on
 * a server in another zone it would silently mean another instant.
 */
export function parseTargetTime(input: string): TargetTime {
  const trimmed = input.trim();
  const m = TIME.exec(trimmed);
  if (!m) {
    const noZone = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/.test(trimmed);
    throw new ConfigError(
      noZone
        ? `--to "${input}" has no time zone, so it is ambiguous: add one, e.g. "${trimmed}+00" or "${trimmed}Z"`
        : `--to "${input}" is not a timestamp: use e.g. "2026-11-21 14:02:59+00" (ISO 8601 with a zone)`,
    );
  }
  const [, y, mo, d, h, mi, s = '00', frac = '', zoneRaw = 'Z'] = m;
  const zone = zoneRaw.toUpperCase();
  let offset = '+00:00';
  if (zone !== 'Z' && zone !== 'UTC' && zone !== 'GMT') {
    const digits = zone.replace(':', '');
    offset = `${digits.slice(0, 3)}:${digits.slice(3, 5) || '00'}`;
  }
  const valid = Number(mo) >= 1 && Number(mo) <= 12 && Number(d) >= 1 && Number(d) <= 31 && Number(h) <= 23 && Number(mi) <= 59 && Number(s) <= 59;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}${frac ? `.${frac.padEnd(3, '0').slice(0, 3)}` : ''}${offset}`;
  const date = new Date(iso);
  // Date rolls 2026-02-31 over into March: a round trip of the day catches it.
  if (!valid || Number.isNaN(date.getTime()) || new Date(`${y}-${mo}-${d}T12:00:00Z`).getUTCDate() !== Number(d)) {
    throw new ConfigError(`--to "${input}" is not a valid date and time`);
  }
  return { text: `${y}-${mo}-${d} ${h}:${mi}:${s}${frac ? `.${frac}` : ''}${offset}`, date };
}

export function parseTargetXid(input: string): string {
  const trimmed = input.trim();
  if (!/^\d+$/.test(trimmed) || BigInt(trimmed) < 3n) throw new ConfigError(`--xid "${input}" is not a transaction id (a whole number >= 3)`);
  return trimmed;
}
