// The .backup history file PostgreSQL archives when a backup stops (backup_label has the
// same form): "KEY: value" lines. Pure.
import { IntegrityError } from '../errors.js';
import { parseLsn } from '../wal/names.js';

export function parseLabelText(text: string): Map<string, string> {
  const fields = new Map<string, string>();
  for (const line of text.split('\n')) {
    const idx = line.indexOf(': ');
    if (idx > 0) fields.set(line.slice(0, idx).trim(), line.slice(idx + 2).trim());
  }
  return fields;
}

/** "0/2000028 (file 000000010000000000000002)" -> LSN and segment name. */
export function walLocation(fields: Map<string, string>, key: string, what: string): { lsn: bigint; wal: string } {
  const m = /^([0-9A-F]+\/[0-9A-F]+) \(file ([0-9A-F]{24})\)$/i.exec(fields.get(key) ?? '');
  const lsn = m ? parseLsn(m[1]!) : null;
  if (!m || lsn === null) throw new IntegrityError(`${what} has no valid ${key}`);
  return { lsn, wal: m[2]!.toUpperCase() };
}

/**
 * PostgreSQL prints these times in its log_timezone with a zone abbreviation. UTC/GMT and
 * numeric offsets are read; for anything else the caller's fallback (its own clock) is used.
 */
export function labelTime(fields: Map<string, string>, key: string): Date | null {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2})(?: (UTC|GMT|[+-]\d{2}(?::?\d{2})?))?$/.exec(fields.get(key) ?? '');
  if (!m || !m[3]) return null;
  const zone = m[3] === 'UTC' || m[3] === 'GMT' ? 'Z' : m[3].length === 3 ? `${m[3]}:00` : m[3];
  const date = new Date(`${m[1]}T${m[2]}${zone}`);
  return Number.isNaN(date.getTime()) ? null : date;
}
