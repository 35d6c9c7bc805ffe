// PostgreSQL's archived file names and what they say. Everything here is pure.

export type WalFileKind = 'segment' | 'partial' | 'backup' | 'history';

export interface WalFileName {
  name: string;
  kind: WalFileKind;
  /** Timeline as 8 hex digits. */
  timeline: string;
  /** For segment-based names: the 8-hex "log" (high 32 bits) and segment parts. */
  log?: string;
  seg?: string;
}

const SEGMENT = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})$/;
const PARTIAL = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.partial$/;
const BACKUP = /^([0-9A-F]{8})([0-9A-F]{8})([0-9A-F]{8})\.[0-9A-F]{8}\.backup$/;
const HISTORY = /^([0-9A-F]{8})\.history$/;

/** Classifies an archivable file name; null for anything PostgreSQL would not archive. */
export function parseWalFileName(name: string): WalFileName | null {
  let m = SEGMENT.exec(name);
  if (m) return { name, kind: 'segment', timeline: m[1]!, log: m[2]!, seg: m[3]! };
  m = PARTIAL.exec(name);
  if (m) return { name, kind: 'partial', timeline: m[1]!, log: m[2]!, seg: m[3]! };
  m = BACKUP.exec(name);
  if (m) return { name, kind: 'backup', timeline: m[1]!, log: m[2]!, seg: m[3]! };
  m = HISTORY.exec(name);
  if (m) return { name, kind: 'history', timeline: m[1]! };
  return null;
}

/** 8 upper-case hex digits, as timelines, logs and segments appear in WAL file names. */
export function hex8(n: number | bigint): string {
  return n.toString(16).toUpperCase().padStart(8, '0');
}

/** The name of a timeline's history file: 00000003.history. */
export function historyFileName(timeline: number): string {
  return `${hex8(timeline)}.history`;
}

/** Number of segments in one 4 GiB "log" (the middle 8 hex digits of a segment name). */
export function segmentsPerLog(segmentSize: number): number {
  return 0x100000000 / segmentSize;
}

/** The LSN at which a segment starts (as a bigint; LSNs exceed 2^53). */
export function segmentStartLsn(file: WalFileName, segmentSize: number): bigint {
  if (file.log === undefined || file.seg === undefined) throw new Error(`${file.name} is not a segment`);
  const segno = BigInt(parseInt(file.log, 16)) * BigInt(segmentsPerLog(segmentSize)) + BigInt(parseInt(file.seg, 16));
  return segno * BigInt(segmentSize);
}

/** Formats an LSN the way PostgreSQL prints it: 16/B374D848. */
export function formatLsn(lsn: bigint): string {
  return `${(lsn >> 32n).toString(16).toUpperCase()}/${(lsn & 0xffffffffn).toString(16).toUpperCase()}`;
}

export function parseLsn(text: string): bigint | null {
  const m = /^([0-9A-Fa-f]{1,8})\/([0-9A-Fa-f]{1,8})$/.exec(text.trim());
  return m ? (BigInt(`0x${m[1]}`) << 32n) | BigInt(`0x${m[2]}`) : null;
}
