// Recovery targets as an operator types them, checked before anything is written. Pure.
import { ConfigError } from '../errors.js';
import { formatLsn, parseLsn } from '../wal/names.js';

export interface TargetTime {
  /** For recovery_target_time: ISO date, time with the operator's precision, explicit offset. */
  text: string;
  date: Date;
  /** The same instant in microseconds since the Unix epoch: PostgreSQL's precision (Date keeps milliseconds). */
  micros: bigint;
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
  const valid =
    Number(mo) >= 1 && Number(mo) <= 12 && Number(d) >= 1 && Number(d) <= 31 && Number(h) <= 23 && Number(mi) <= 59 && Number(s) <= 59;
  const iso = `${y}-${mo}-${d}T${h}:${mi}:${s}${frac ? `.${frac.padEnd(3, '0').slice(0, 3)}` : ''}${offset}`;
  const date = new Date(iso);
  // Date rolls 2026-02-31 over into March: a round trip of the day catches it.
  if (!valid || Number.isNaN(date.getTime()) || new Date(`${y}-${mo}-${d}T12:00:00Z`).getUTCDate() !== Number(d)) {
    throw new ConfigError(`--to "${input}" is not a valid date and time`);
  }
  const micros = BigInt(new Date(`${y}-${mo}-${d}T${h}:${mi}:${s}${offset}`).getTime()) * 1000n + BigInt(frac.padEnd(6, '0'));
  return { text: `${y}-${mo}-${d} ${h}:${mi}:${s}${frac ? `.${frac}` : ''}${offset}`, date, micros };
}

export function parseTargetXid(input: string): string {
  const trimmed = input.trim();
  if (!/^\d+$/.test(trimmed) || BigInt(trimmed) < 3n)
    throw new ConfigError(`--xid "${input}" is not a transaction id (a whole number >= 3)`);
  return trimmed;
}

export function parseTargetLsn(input: string): bigint {
  const lsn = parseLsn(input);
  if (lsn === null) throw new ConfigError(`--lsn "${input}" is not an LSN: use PostgreSQL's form, e.g. "0/16B3748"`);
  return lsn;
}

export function parseTargetName(input: string): string {
  // pg_create_restore_point accepts up to 63 bytes (MAXFNAMELEN - 1).
  if (input.length === 0 || Buffer.byteLength(input) > 63)
    throw new ConfigError(`--name "${input}" is not a restore point name (1 to 63 bytes)`);
  return input;
}

/** Where recovery stops. `latest` replays all archived WAL; `immediate` stops at the backup's end. */
export type RecoveryTarget =
  | { kind: 'time'; time: TargetTime }
  | { kind: 'lsn'; lsn: bigint }
  | { kind: 'xid'; xid: string }
  | { kind: 'name'; name: string }
  | { kind: 'immediate' }
  | { kind: 'latest' };

export interface TargetFlags {
  to?: string;
  latest?: boolean;
  lsn?: string;
  xid?: string;
  name?: string;
  immediate?: boolean;
}

/** Exactly one target: two would be ambiguous, none would be a guess. */
export function parseRecoveryTarget(flags: TargetFlags): RecoveryTarget {
  const given = (['to', 'latest', 'lsn', 'xid', 'name', 'immediate'] as const).filter((k) => flags[k] !== undefined && flags[k] !== false);
  if (given.length !== 1) {
    throw new ConfigError(
      given.length === 0
        ? 'say where recovery stops: one of --to TIME, --latest, --lsn LSN, --xid XID, --name NAME, --immediate'
        : `choose one recovery target, not ${given.map((k) => `--${k}`).join(' and ')}`,
    );
  }
  if (flags.to !== undefined) return { kind: 'time', time: parseTargetTime(flags.to) };
  if (flags.lsn !== undefined) return { kind: 'lsn', lsn: parseTargetLsn(flags.lsn) };
  if (flags.xid !== undefined) return { kind: 'xid', xid: parseTargetXid(flags.xid) };
  if (flags.name !== undefined) return { kind: 'name', name: parseTargetName(flags.name) };
  return flags.immediate ? { kind: 'immediate' } : { kind: 'latest' };
}

/** For messages: the target as the operator gave it. */
export function describeTarget(target: RecoveryTarget): string {
  switch (target.kind) {
    case 'time':
      return `time ${target.time.text}`;
    case 'lsn':
      return `LSN ${formatLsn(target.lsn)}`;
    case 'xid':
      return `transaction ${target.xid}`;
    case 'name':
      return `restore point "${target.name}"`;
    case 'immediate':
      return 'the end of the backup (immediate)';
    case 'latest':
      return 'the newest archived WAL (latest)';
  }
}

export type TimelineChoice = 'latest' | 'current' | number;

export function parseTimelineChoice(input: string | undefined): TimelineChoice {
  if (input === undefined || input === 'latest') return 'latest';
  if (input === 'current') return 'current';
  const n = /^\d+$/.test(input) ? Number(input) : /^0x[0-9a-f]+$/i.test(input) ? parseInt(input, 16) : NaN;
  if (!Number.isInteger(n) || n < 1 || n > 0xffffffff)
    throw new ConfigError(`--timeline "${input}" must be latest, current or a timeline number`);
  return n;
}
