// Every job that ran against this repository (backup, expire, verify, restore-test, dump), kept
// in the repository so that every host, `pitr history`, `status` and the agent see the same:
//   history/<id>.json   one job: written "running" as it starts, rewritten with its result
// The id begins with the start time, so the keys sort oldest first. A job that died leaves
// its "running" record behind: a reader judges it by its process (same pid space, gone) or
// its heartbeat (another host, silent for longer than STALE_MS) and shows it as failed.
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import * as v from 'valibot';
import { isoTime, parseJsonDocument } from '../codec/json-document.js';
import { IntegrityError } from '../errors.js';
import { pidSpace, processAlive } from '../os/process.js';
import type { Storage } from '../storage/storage.js';

export const HISTORY_PREFIX = 'history/';
export const JOB_KINDS = ['backup', 'expire', 'verify', 'restore-test', 'dump'] as const;
export type JobKind = (typeof JOB_KINDS)[number];
export type JobStatus = 'running' | 'passed' | 'failed' | 'skipped';

/** A running job rewrites its record this often; one silent for STALE_MS is taken for dead. */
export const HEARTBEAT_MS = 60_000;
const STALE_MS = 5 * 60_000;
/** The newest records kept; older ones go when a job ends (a year of a few jobs a day). */
const KEEP_RECORDS = 2000;

const recordSchema = v.object({
  format: v.literal(1),
  id: v.string(),
  kind: v.picklist(JOB_KINDS),
  status: v.picklist(['running', 'passed', 'failed', 'skipped']),
  host: v.string(),
  pid: v.pipe(v.number(), v.integer()),
  /** The pid's namespace (os/process.ts pidSpace): only there does the pid name the process. */
  pidSpace: v.string(),
  /** Who started it: by hand (cli), the agent's schedule, or its HTTP API. */
  trigger: v.picklist(['cli', 'schedule', 'api']),
  startedAt: isoTime,
  heartbeatAt: isoTime,
  finishedAt: v.nullable(isoTime),
  durationSeconds: v.nullable(v.pipe(v.number(), v.minValue(0))),
  /** What the job moved: a backup's stored bytes, expire's freed, verify's read, a restore test's restored. */
  bytes: v.nullable(v.pipe(v.number(), v.minValue(0))),
  /** Why it failed or was skipped, one line. */
  error: v.nullable(v.string()),
});
export type JobRecord = v.InferOutput<typeof recordSchema>;

/** What `pitr history --json` and the API show of a job. */
export interface JobView {
  id: string;
  kind: JobKind;
  status: JobStatus;
  host: string;
  trigger: JobRecord['trigger'];
  startedAt: string;
  durationSeconds: number | null;
  bytes: number | null;
  error: string | null;
}

export type JobTrigger = JobRecord['trigger'];

/** A new job id: its start time (sortable), its kind and a random tail. */
export function newJobId(kind: JobKind, at = new Date()): string {
  const stamp = at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z');
  return `${stamp}-${kind}-${randomBytes(3).toString('hex')}`;
}

/** A job id as newJobId makes them: safe in a key, and its kind. */
export function parseJobId(id: string): { kind: JobKind } | null {
  const m = /^\d{8}T\d{6}Z-([a-z-]+)-[0-9a-f]{6}$/.exec(id);
  const kind = m?.[1] as JobKind | undefined;
  return kind && (JOB_KINDS as readonly string[]).includes(kind) ? { kind } : null;
}

const keyOf = (id: string) => `${HISTORY_PREFIX}${id}.json`;

export async function writeJobRecord(storage: Storage, record: Omit<JobRecord, 'format'>): Promise<void> {
  await storage.put(keyOf(record.id), Buffer.from(`${JSON.stringify({ format: 1, ...record }, null, 2)}\n`));
}

/** A record for a job that starts now in this process. */
export function runningRecord(id: string, kind: JobKind, trigger: JobTrigger, startedAt = new Date()): Omit<JobRecord, 'format'> {
  const t = startedAt.toISOString();
  return {
    id,
    kind,
    status: 'running',
    host: hostname(),
    pid: process.pid,
    pidSpace: pidSpace(),
    trigger,
    startedAt: t,
    heartbeatAt: t,
    finishedAt: null,
    durationSeconds: null,
    bytes: null,
    error: null,
  };
}

export async function readJobRecord(storage: Storage, id: string): Promise<JobRecord | null> {
  const raw = await storage.get(keyOf(id));
  if (raw === null) return null;
  return parseJsonDocument(raw.toString('utf8'), recordSchema, {
    what: `${storage.url}${keyOf(id)}`,
    fix: 'remove it: it only describes a past job',
  });
}

/** The ids of every recorded job, oldest first. */
export async function listJobIds(storage: Storage): Promise<string[]> {
  const { objects } = await storage.list(HISTORY_PREFIX);
  return objects
    .map((o) => o.key.slice(HISTORY_PREFIX.length))
    .filter((k) => k.endsWith('.json'))
    .map((k) => k.slice(0, -'.json'.length))
    .filter((id) => parseJobId(id) !== null)
    .sort();
}

/** The newest `limit` jobs, newest first, each as a reader should see it (a dead "running" job is failed). */
export async function readHistory(storage: Storage, limit: number, now = new Date()): Promise<{ jobs: JobView[]; damaged: string[] }> {
  const ids = (await listJobIds(storage)).reverse().slice(0, limit);
  const { views, damaged } = await readViews(storage, ids, now);
  return { jobs: views, damaged };
}

/** The newest job of each kind, as readHistory shows it. */
export async function lastJobOfEachKind(storage: Storage, now = new Date()): Promise<Map<JobKind, JobView>> {
  const newest = new Map<JobKind, string>();
  for (const id of await listJobIds(storage)) newest.set(parseJobId(id)!.kind, id);
  const { views } = await readViews(storage, [...newest.values()], now);
  return new Map(views.map((j) => [j.kind, j]));
}

interface Views {
  views: JobView[];
  /** Records that could not be read: each as its one-line error. */
  damaged: string[];
}

async function readViews(storage: Storage, ids: string[], now: Date): Promise<Views> {
  const views: JobView[] = [];
  const damaged: string[] = [];
  const onDamaged = (err: unknown) => {
    if (!(err instanceof IntegrityError)) throw err;
    damaged.push(err.message);
    return null;
  };
  // A few at a time: one GET each, and --limit is small.
  for (let i = 0; i < ids.length; i += 16) {
    // A damaged record (or one a newer pitr wrote) is one past job unseen, not a reason to
    // hide the others: it is left out (pitr history names it).
    const records = await Promise.all(ids.slice(i, i + 16).map((id) => readJobRecord(storage, id).catch(onDamaged)));
    for (const r of records) if (r) views.push(asSeen(r, now));
  }
  return { views, damaged };
}

/** A record as a reader should take it: a "running" job whose process is gone failed. */
export function asSeen(r: JobRecord, now: Date): JobView {
  const view: JobView = {
    id: r.id,
    kind: r.kind,
    status: r.status,
    host: r.host,
    trigger: r.trigger,
    startedAt: r.startedAt,
    durationSeconds: r.durationSeconds,
    bytes: r.bytes,
    error: r.error,
  };
  if (r.status !== 'running') return view;
  const silentMs = now.getTime() - Date.parse(r.heartbeatAt);
  // Here, the pid says it at once; but a pid is reused in time, so a long silence counts too.
  const dead = r.pidSpace === pidSpace() ? !processAlive(r.pid) || silentMs > 3 * STALE_MS : silentMs > STALE_MS;
  if (!dead) return view;
  return {
    ...view,
    status: 'failed',
    durationSeconds: Math.max(0, (Date.parse(r.heartbeatAt) - Date.parse(r.startedAt)) / 1000),
    error:
      r.pidSpace === pidSpace() && !processAlive(r.pid)
        ? `the job died: process ${r.pid} on ${r.host} ended without recording a result (killed, or the machine went down)`
        : `the job died: process ${r.pid} on ${r.host} has not reported since ${r.heartbeatAt}`,
  };
}

/** Removes the oldest records beyond KEEP_RECORDS. */
export async function pruneHistory(storage: Storage, keep = KEEP_RECORDS): Promise<number> {
  const ids = await listJobIds(storage);
  const surplus = ids.slice(0, Math.max(0, ids.length - keep));
  if (surplus.length > 0) await storage.deleteMany(surplus.map(keyOf));
  return surplus.length;
}
