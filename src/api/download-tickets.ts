// One-use download links for the dashboard. A plain link cannot carry the bearer header, and
// fetching the file with the header would hold the whole backup in the browser's memory; so
// the page asks for a link with the token (POST), and the browser streams the file to disk
// from that link. A ticket is 256 random bits, names one backup, is spent by its first use,
// and expires after TICKET_MS: one that leaks (a proxy's log, the browser's history) is
// worth nothing after the download began.
import { createHash, randomBytes } from 'node:crypto';

export const TICKET_MS = 60_000;
/** Unspent tickets kept at most; the oldest goes first. */
const MAX_TICKETS = 100;

export interface DownloadTickets {
  /** `token`: the bearer token the ticket was asked for with; a ticket dies with it (SIGHUP may change or remove it). */
  issue(backupId: string, token: string, now?: number): { ticket: string; expiresAt: Date };
  /** True once, for a ticket issued for this backup under this token (undefined: none configured now) and not expired. */
  redeem(ticket: string, backupId: string, token: string | undefined, now?: number): boolean;
}

export function downloadTickets(): DownloadTickets {
  const tickets = new Map<string, { backupId: string; tokenDigest: string; expires: number }>();
  const digest = (token: string) => createHash('sha256').update(token).digest('hex');
  return {
    issue(backupId, token, now = Date.now()) {
      for (const [t, v] of tickets) if (v.expires <= now) tickets.delete(t);
      while (tickets.size >= MAX_TICKETS) tickets.delete(tickets.keys().next().value!);
      const ticket = randomBytes(32).toString('base64url');
      tickets.set(ticket, { backupId, tokenDigest: digest(token), expires: now + TICKET_MS });
      return { ticket, expiresAt: new Date(now + TICKET_MS) };
    },
    redeem(ticket, backupId, token, now = Date.now()) {
      const held = tickets.get(ticket);
      if (!held) return false;
      tickets.delete(ticket);
      return held.backupId === backupId && held.expires > now && token !== undefined && digest(token) === held.tokenDigest;
    },
  };
}
