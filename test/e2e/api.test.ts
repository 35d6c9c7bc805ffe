// The agent's HTTP interface against a real cluster archiving into a file:// repository: the
// JSON routes have the shapes of the commands' --json, POST needs the bearer token (401
// without, 403 wrong) and starts a job that then shows in /api/history and ends, /metrics
// agrees with status and list, and no secret appears in any answer.
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pitr, waitFor } from '../../tools/harness/env.js';
import type { Cluster } from '../../tools/harness/postgres.js';
import { archivingCluster, fileRepo, type RepoFixture } from '../support/repos.js';
import { startWebhookReceiver, type WebhookReceiver } from '../support/receivers.js';
import { startHttpAgent, type HttpAgent } from '../support/http-agent.js';

const CONTRACT_METRICS = [
  'pitr_up',
  'pitr_healthy',
  'pitr_last_backup_timestamp_seconds',
  'pitr_last_backup_duration_seconds',
  'pitr_last_backup_size_bytes',
  'pitr_backups',
  'pitr_wal_last_archived_timestamp_seconds',
  'pitr_wal_archive_backlog_segments',
  'pitr_restorable_window_start_timestamp_seconds',
  'pitr_restorable_window_end_timestamp_seconds',
  'pitr_repository_size_bytes',
  'pitr_last_verify_success_timestamp_seconds',
  'pitr_last_restore_test_success_timestamp_seconds',
  'pitr_last_restore_test_rto_seconds',
];

describe('pitr agent over HTTP', () => {
  let repo: RepoFixture;
  let cluster: Cluster;
  let env: Record<string, string>;
  let agent: HttpAgent | undefined;
  let base: string;
  let slack: WebhookReceiver;
  const token = randomBytes(24).toString('hex');
  /** Backups started over HTTP (a second ask is 409 while the first runs, 202 once it ended). */
  let backupsStarted = 1;
  /** Every body the agent answered with, for the check that no secret is in any. */
  const bodies: string[] = [];

  const get = async (path: string, init?: RequestInit) => {
    const res = await fetch(`${base}${path}`, init);
    const text = await res.text();
    bodies.push(text);
    return { status: res.status, headers: res.headers, text, json: () => JSON.parse(text) as Record<string, unknown> };
  };
  const post = (path: string, auth?: string) => get(path, { method: 'POST', headers: auth ? { Authorization: auth } : {} });
  const command = async (args: string[]) => {
    const res = await pitr([...args, '--json'], { env });
    expect([0, 11], res.stderr).toContain(res.exitCode);
    return JSON.parse(res.stdout) as Record<string, unknown>;
  };
  const metric = (text: string, name: string, labels = '') => {
    const line = text.split('\n').find((l) => l.startsWith(`${name}${labels} `));
    return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
  };

  beforeAll(async () => {
    repo = await fileRepo();
    ({ cluster, env } = await archivingCluster(repo));
    await cluster.query('CREATE TABLE t AS SELECT generate_series(1, 1000) AS n');
    const backup = await pitr(['backup'], { env });
    expect(backup.exitCode, backup.stderr).toBe(0);
    slack = await startWebhookReceiver();
    agent = await startHttpAgent(env, token, { PITR_NOTIFY_SLACK_WEBHOOK: slack.url });
    base = agent.base;
  }, 120_000);
  afterAll(async () => {
    await agent?.stop();
    await slack?.close();
    await cluster?.stop('immediate');
  });

  it('serves /healthz, and status, backups and history in the shapes of the commands --json', async () => {
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    expect(health.json()).toMatchObject({ status: 'ok', lastWatch: expect.any(String) });

    const status = await get('/api/status');
    expect(status.status).toBe(200);
    expect(Number(status.headers.get('age'))).toBeGreaterThanOrEqual(0);
    const fromCli = await command(['status']);
    expect(Object.keys(status.json()).sort()).toEqual(Object.keys(fromCli).sort());
    expect(status.json().backups).toBe(fromCli.backups);
    expect(status.json().repository).toBe(fromCli.repository);

    const backups = await get('/api/backups');
    const listed = await command(['list']);
    expect(Object.keys(backups.json()).sort()).toEqual(Object.keys(listed).sort());
    const ids = (x: Record<string, unknown>) => (x.backups as { id: string }[]).map((b) => b.id);
    expect(ids(backups.json())).toEqual(ids(listed));
    expect(ids(listed)).toHaveLength(1);

    const history = await get('/api/history?limit=5');
    const fromHistory = await command(['history', '--limit', '5']);
    expect(Object.keys(history.json())).toEqual(['jobs']);
    expect((history.json().jobs as { id: string }[]).map((j) => j.id)).toEqual((fromHistory.jobs as { id: string }[]).map((j) => j.id));

    expect((await get('/nothing')).status).toBe(404);
    expect((await get('/api/restore-tests')).status).toBe(405);
    expect((await get('/api/history?limit=0')).status).toBe(400);
  });

  it('POST needs the bearer token: 401 without, 403 wrong; with it 202 and the job in /api/history until it ends', async () => {
    const none = await post('/api/backups');
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer');
    expect((await post('/api/backups', `Bearer ${token.slice(1)}x`)).status).toBe(403);
    expect((await post('/api/backups', 'Basic dXNlcjpwYXNz')).status).toBe(401);

    const started = await post('/api/backups', `Bearer ${token}`);
    expect(started.status).toBe(202);
    const { id } = started.json() as { id: string };
    expect(id).toMatch(/^\d{8}T\d{6}Z-backup-[0-9a-f]{6}$/);
    // Asked again while it runs: already running.
    const again = await post('/api/backups', `Bearer ${token}`);
    expect([202, 409]).toContain(again.status);
    if (again.status === 202) backupsStarted++;
    const done = await waitFor('the backup to end', async () => {
      const jobs = (await get('/api/history?limit=20')).json().jobs as { id: string; status: string; trigger: string }[];
      const job = jobs.find((j) => j.id === id);
      return job && job.status !== 'running' && job;
    });
    expect(done).toMatchObject({ status: 'passed', trigger: 'api' });

    const test = await post('/api/restore-tests', `Bearer ${token}`);
    expect(test.status).toBe(202);
    const testId = (test.json() as { id: string }).id;
    const ended = await waitFor(
      'the restore test to end',
      async () => {
        const jobs = (await get('/api/history?limit=20')).json().jobs as { id: string; status: string }[];
        const job = jobs.find((j) => j.id === testId);
        return job && job.status !== 'running' && job;
      },
      180_000,
    );
    expect(ended.status).toBe('passed');
  }, 240_000);

  it('/metrics has every contract metric, agreeing with status and list', async () => {
    // After the watch that follows the jobs above.
    await waitFor('the metrics to count the restore test', async () => {
      const m = (await get('/metrics')).text;
      // The counter goes up as the job ends; the watch that follows records its result.
      return (
        metric(m, 'pitr_job_runs_total', '{job="restore-test",result="passed"}') === 1 &&
        metric(m, 'pitr_last_restore_test_success_timestamp_seconds')! > 0 &&
        m
      );
    });
    const res = await get('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain/);
    for (const name of CONTRACT_METRICS) expect(metric(res.text, name), name).toBeDefined();
    const status = await command(['status']);
    const listed = await command(['list']);
    const backups = listed.backups as { stopTime: string }[];
    expect(metric(res.text, 'pitr_backups')).toBe(backups.length);
    expect(metric(res.text, 'pitr_healthy')).toBe(status.healthy ? 1 : 0);
    expect(metric(res.text, 'pitr_up')).toBe(1);
    expect(metric(res.text, 'pitr_last_backup_timestamp_seconds')).toBe(Date.parse(backups.at(-1)!.stopTime) / 1000);
    const window = listed.restorableWindow as { from: string };
    expect(metric(res.text, 'pitr_restorable_window_start_timestamp_seconds')).toBe(Date.parse(window.from) / 1000);
    expect(metric(res.text, 'pitr_last_restore_test_success_timestamp_seconds')).toBeGreaterThan(0);
    expect(metric(res.text, 'pitr_last_restore_test_rto_seconds')).toBeGreaterThan(0);
    expect(metric(res.text, 'pitr_last_verify_success_timestamp_seconds')).toBe(0);
    expect(metric(res.text, 'pitr_job_runs_total', '{job="backup",result="passed"}')).toBe(backupsStarted);
    expect(metric(res.text, 'pitr_job_runs_total', '{job="verify",result="failed"}')).toBe(0);
    expect(metric(res.text, 'pitr_repository_size_bytes')).toBeGreaterThan(0);
  }, 120_000);

  it('never answers with a secret', () => {
    const all = bodies.join('\n');
    expect(bodies.length).toBeGreaterThan(10);
    expect(all).not.toContain(token);
    expect(all).not.toContain(new URL(slack.url).pathname);
  });
});
