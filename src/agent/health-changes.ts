// From one health watch to the next: which checks began failing and which recovered. A check
// is notified once when it begins to fail and once when it recovers, however often it is
// seen and however its wording (an age, a count) changes meanwhile.
import type { HealthCheck } from '../status/status.js';

/** The checks notified as failing: when each began, and what it said then. */
export type NotifiedChecks = Record<string, { since: string; message: string }>;

export interface HealthChange {
  check: HealthCheck;
  status: 'failing' | 'recovered';
  /** When the failure began (for "recovered": how long it lasted). */
  since: string;
  message: string;
}

export function healthChanges(
  notified: NotifiedChecks,
  failing: readonly { check: HealthCheck; message: string }[],
  now: Date,
): { changes: HealthChange[]; notified: NotifiedChecks } {
  const current = new Map<HealthCheck, string[]>();
  for (const f of failing) current.set(f.check, [...(current.get(f.check) ?? []), f.message]);
  const next: NotifiedChecks = {};
  const changes: HealthChange[] = [];
  for (const [check, messages] of current) {
    const message = messages.join('; ');
    const before = notified[check];
    next[check] = before ?? { since: now.toISOString(), message };
    if (!before) changes.push({ check, status: 'failing', since: now.toISOString(), message });
  }
  for (const [check, was] of Object.entries(notified))
    if (!current.has(check as HealthCheck))
      changes.push({ check: check as HealthCheck, status: 'recovered', since: was.since, message: was.message });
  return { changes, notified: next };
}
