// The dashboard's one-use download links (api/download-tickets.ts): spent by their first use,
// for their own backup only, gone after TICKET_MS, and never more than a bounded number held.
import { describe, expect, it } from 'vitest';
import { downloadTickets, TICKET_MS } from '../../src/api/download-tickets.js';

describe('download tickets', () => {
  it('redeem once, for the backup they name, before they expire', () => {
    const tickets = downloadTickets();
    const now = 1_000_000;
    const a = tickets.issue('b1', 'tok', now).ticket;
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(tickets.redeem(a, 'b1', 'tok', now + 1)).toBe(true);
    expect(tickets.redeem(a, 'b1', 'tok', now + 2)).toBe(false);

    const b = tickets.issue('b1', 'tok', now).ticket;
    expect(tickets.redeem(b, 'b2', 'tok', now)).toBe(false);
    expect(tickets.redeem(b, 'b1', 'tok', now)).toBe(false); // a wrong try spends it

    const c = tickets.issue('b1', 'tok', now);
    expect(c.expiresAt.getTime()).toBe(now + TICKET_MS);
    expect(tickets.redeem(c.ticket, 'b1', 'tok', now + TICKET_MS)).toBe(false);
    expect(tickets.redeem('made-up', 'b1', 'tok', now)).toBe(false);

    // The token it was asked with changed (SIGHUP), or was removed: the link is dead too.
    const d = tickets.issue('b1', 'tok', now).ticket;
    expect(tickets.redeem(d, 'b1', 'another token', now)).toBe(false);
    const e = tickets.issue('b1', 'tok', now).ticket;
    expect(tickets.redeem(e, 'b1', undefined, now)).toBe(false);
  });

  it('hold at most 100 unspent: the oldest goes first', () => {
    const tickets = downloadTickets();
    const issued = Array.from({ length: 101 }, () => tickets.issue('b1', 'tok', 5).ticket);
    expect(tickets.redeem(issued[0]!, 'b1', 'tok', 6)).toBe(false);
    expect(tickets.redeem(issued[1]!, 'b1', 'tok', 6)).toBe(true);
    expect(tickets.redeem(issued[100]!, 'b1', 'tok', 6)).toBe(true);
  });
});
