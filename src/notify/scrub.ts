// Channel URLs carry their secrets in the URL itself: a Slack webhook's path is its token, a
// webhook may have a token in its query, an SMTP URL has the password. Errors from fetch and
// nodemailer can quote any of these, so every error a channel throws passes through here.

const HIDDEN = '***';

/** The parts of `url` no output may show: the URL, its path and query, its password (as written and decoded). */
export function secretsOf(url: string): string[] {
  const secrets = [url];
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return secrets;
  }
  secrets.push(parsed.href);
  const pathAndQuery = `${parsed.pathname}${parsed.search}`;
  if (pathAndQuery !== '/') secrets.push(pathAndQuery, safeDecode(pathAndQuery));
  if (parsed.pathname !== '/') secrets.push(parsed.pathname, safeDecode(parsed.pathname));
  // A token alone, without the rest of the path or query around it (long parts only: a short
  // one such as "services" is a word, and would blank out innocent text).
  for (const part of parsed.pathname.split('/')) if (part.length >= 16) secrets.push(part, safeDecode(part));
  for (const value of parsed.searchParams.values()) if (value.length >= 8) secrets.push(value);
  if (parsed.password !== '') secrets.push(parsed.password, safeDecode(parsed.password));
  return [...new Set(secrets.filter((s) => s !== ''))];
}

/** `text` with every secret replaced by ***, and the user:password of any URL in it too. */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first: the whole URL goes before its path, so no half of it is left behind.
  for (const secret of [...secrets].sort((a, b) => b.length - a.length)) out = out.split(secret).join(HIDDEN);
  return out.replace(/\b([a-z][a-z0-9+.-]*:\/\/)[^\s/@]+@/gi, `$1${HIDDEN}@`);
}

/** A one-line Error of `err`'s message with the secrets removed (the cause is dropped: it may quote them). */
export function scrubbedError(message: string, secrets: readonly string[]): Error {
  return new Error(scrub(message.replace(/\s*\n\s*/g, ' ').trim(), secrets));
}

function safeDecode(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}
