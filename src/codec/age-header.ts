// The age header's text: read without any key (where it ends, its stanzas), and written from
// stanzas (codec/age.ts computes them and the MAC). Apart from age.ts so that readers of
// object headers (list, status, verify, wal-push's comparison) do not load the age package.
const INTRO = Buffer.from('age-encryption.org/v1\n');
const MAC_LINE = Buffer.from('\n--- ');
/** No header pitr reads is longer: a bound on what a reader buffers before giving up. */
export const MAX_AGE_HEADER_BYTES = 1 << 20;

/** A stanza of the header: its arguments (the first is its type) and its body. */
export interface AgeStanza {
  args: string[];
  body: Buffer;
}

/** Whether `bytes` begin like an age file (or are a prefix of its first line). */
export function looksLikeAge(bytes: Buffer): boolean {
  const n = Math.min(bytes.length, INTRO.length);
  return n > 0 && bytes.subarray(0, n).equals(INTRO.subarray(0, n));
}

/**
 * Reads the header at the start of `bytes` without any key: its length and its stanzas.
 * 'incomplete' when `bytes` end inside it; 'not-age' when they are no age header.
 */
export function parseAgeHeader(bytes: Buffer): { length: number; stanzas: AgeStanza[] } | 'incomplete' | 'not-age' {
  if (!looksLikeAge(bytes)) return 'not-age';
  const mac = bytes.indexOf(MAC_LINE, INTRO.length - 1);
  const end = mac < 0 ? -1 : bytes.indexOf(0x0a, mac + MAC_LINE.length);
  if (end < 0) return bytes.length > MAX_AGE_HEADER_BYTES ? 'not-age' : 'incomplete';
  const stanzas: AgeStanza[] = [];
  const lines = bytes
    .subarray(INTRO.length, mac + 1)
    .toString('latin1')
    .split('\n');
  lines.pop(); // after the last newline
  for (let i = 0; i < lines.length;) {
    const line = lines[i++]!;
    if (!line.startsWith('-> ')) return 'not-age';
    const body: string[] = [];
    // Body lines are 64 columns of unpadded base64; a shorter (or empty) line ends the body.
    for (;;) {
      const next = lines[i++];
      if (next === undefined) return 'not-age';
      body.push(next);
      if (next.length < 64) break;
    }
    stanzas.push({ args: line.slice(3).split(' '), body: Buffer.from(body.join(''), 'base64') });
  }
  return { length: end + 1, stanzas };
}

/** The header's text up to and including "---" (what the MAC covers): the intro line, then each stanza, its body as 64-column unpadded base64. */
export function encodeStanzas(stanzas: readonly AgeStanza[]): Buffer {
  const lines = [INTRO.toString()];
  for (const { args, body } of stanzas) {
    lines.push(`-> ${args.join(' ')}\n`);
    const text = body.toString('base64').replace(/=+$/, '');
    for (let i = 0; i < text.length; i += 64) lines.push(`${text.slice(i, i + 64)}\n`);
    if (text.length % 64 === 0) lines.push('\n'); // a body ends with a line shorter than 64 columns, empty if need be
  }
  lines.push('---');
  return Buffer.from(lines.join(''));
}
