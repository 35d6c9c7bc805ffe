// What the running agent last saw, kept in the repository so that `pitr status` on any host
// (and the agent after a restart) knows it:
//   agent/state.json   the agent's host and process, its heartbeat (every health watch), its
//                      schedules' next runs, each notification channel's health, and the
//                      checks it has notified as failing (so a restart does not notify again)
import * as v from 'valibot';
import { isoTime, parseJsonDocument } from '../codec/json-document.js';
import type { Storage } from '../storage/storage.js';

export const AGENT_STATE_KEY = 'agent/state.json';

const channelSchema = v.object({
  name: v.string(),
  target: v.string(),
  healthy: v.boolean(),
  failingSince: v.nullable(isoTime),
  failedAttempts: v.pipe(v.number(), v.integer(), v.minValue(0)),
  lastError: v.nullable(v.string()),
  /** When it last delivered a message; null: never since the agent started. */
  lastSentAt: v.optional(v.nullable(isoTime)),
});
export type ChannelHealth = v.InferOutput<typeof channelSchema>;

const stateSchema = v.object({
  format: v.literal(1),
  host: v.string(),
  pid: v.pipe(v.number(), v.integer()),
  startedAt: isoTime,
  /** Since when an agent has watched this repository (kept across restarts): schedules due before it were nobody's to run. */
  watchedSince: isoTime,
  heartbeatAt: isoTime,
  /** Set when the agent stopped on purpose (SIGTERM): its silence is then no news. */
  stoppedAt: v.nullable(isoTime),
  watchIntervalSeconds: v.pipe(v.number(), v.minValue(0)),
  /** Each schedule, its next run, and since when it has been watched as written (a changed one starts again). */
  schedules: v.array(
    v.object({ job: v.string(), expression: v.string(), next: v.nullable(isoTime), since: v.optional(v.nullable(isoTime)) }),
  ),
  channels: v.array(channelSchema),
  /** The checks notified as failing, with when they began: the next change from here is "recovered". */
  notified: v.record(v.string(), v.object({ since: isoTime, message: v.string() })),
});
export type AgentState = v.InferOutput<typeof stateSchema>;

export async function writeAgentState(storage: Storage, state: Omit<AgentState, 'format'>): Promise<void> {
  await storage.put(AGENT_STATE_KEY, Buffer.from(`${JSON.stringify({ format: 1, ...state }, null, 2)}\n`));
}

export async function readAgentState(storage: Storage): Promise<AgentState | null> {
  const raw = await storage.get(AGENT_STATE_KEY);
  if (raw === null) return null;
  return parseJsonDocument(raw.toString('utf8'), stateSchema, {
    what: `${storage.url}${AGENT_STATE_KEY}`,
    fix: 'remove it: the agent rewrites it at its next health watch',
  });
}
