// pitr agent against a real cluster archiving through bin/pitr into a file:// repository, with
// schedules in seconds: backups happen, expire keeps the rule, history records every job, a
// second agent refuses, a crashed job does not stop it, SIGTERM during a backup leaves nothing
// visible; and its notifications reach real receivers (a webhook, a "Slack" webhook, SMTP)
// once per change of health.
import { existsSync } from 'node:fs';
import { chmod, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { execa, type ResultPromise } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PITR_BIN, pitr, waitFor as waitUntil } from '../../tools/harness/env.js';
import type { Cluster } from '../../tools/harness/postgres.js';
import { archivingCluster, fileRepo, type RepoFixture } from '../support/repos.js';
import { startSmtpReceiver, startWebhookReceiver, type SmtpReceiver, type WebhookReceiver } from '../support/receivers.js';

interface Job {
  id: string;
  kind: string;
  status: string;
  trigger: string;
  error: string | null;
  startedAt: string;
}

type Agent = ResultPromise<{ env: Record<string, string>; reject: false; all: true }>;

describe('pitr agent, file:// repository', () => {
  let repo: RepoFixture;
  let cluster: Cluster;
  let env: Record<string, string>;
  let agent: Agent | undefined;

  beforeAll(async () => {
    repo = await fileRepo();
    ({ cluster, env } = await archivingCluster(repo));
    await cluster.query('CREATE TABLE t AS SELECT generate_series(1, 1000) AS n');
  });
  afterEach(async () => {
    agent?.kill('SIGKILL');
    await agent;
    agent = undefined;
  });
  afterAll(async () => {
    await cluster?.stop('immediate');
  });

  /** What the agent logged so far: the message of a failed wait. */
  let output = '';
  /** `extra` overrides the environment (undefined: unset); `args` follow the word agent. */
  const startAgent = (extra: Record<string, string | undefined>, args: string[] = []) => {
    output = '';
    const vars = {
      ...process.env,
      PITR_CONFIG: undefined,
      ...env,
      PITR_HTTP_LISTEN: 'off',
      PITR_WATCH_INTERVAL: '1s',
      PITR_SCHEDULE_VERIFY: 'off',
      PITR_SCHEDULE_RESTORE_TEST: 'off',
      ...extra,
    };
    const started = execa(PITR_BIN, ['agent', ...args], {
      env: Object.fromEntries(Object.entries(vars).filter((kv): kv is [string, string] => kv[1] !== undefined)),
      extendEnv: false,
      reject: false,
      all: true,
    });
    started.all.on('data', (chunk: Buffer) => (output += chunk.toString()));
    return started;
  };
  const waitFor = <T>(what: string, check: () => Promise<T | undefined | false>, timeoutMs?: number) =>
    waitUntil(what, check, timeoutMs).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}\nthe agent said:\n${output.slice(-4000)}`);
    });
  const history = async (): Promise<Job[]> => {
    const res = await pitr(['history', '--json', '--limit', '200'], { env });
    expect(res.exitCode, res.stderr).toBe(0);
    return (JSON.parse(res.stdout) as { jobs: Job[] }).jobs;
  };
  const agentState = async () => JSON.parse((await execa('cat', [join(repo.dir!, 'agent', 'state.json')])).stdout);
  const listed = async (): Promise<string[]> => {
    const res = await pitr(['list', '--json'], { env });
    expect(res.exitCode, res.stderr).toBe(0);
    return (JSON.parse(res.stdout) as { backups: { id: string }[] }).backups.map((b) => b.id);
  };

  it('backs up on schedule, expires to the rule after each backup, records every job; a second agent refuses; a crashed job does not stop it', async () => {
    agent = startAgent({ PITR_SCHEDULE_BACKUP: '*/3 * * * * *', PITR_RETENTION_FULL: '2' });
    const passed = (jobs: Job[], kind: string) => jobs.filter((j) => j.kind === kind && j.status === 'passed');
    await waitFor('a first backup by the agent', async () => passed(await history(), 'backup').length >= 1, 60_000);

    const second = await pitr(['agent'], { env });
    expect(second.exitCode, second.stderr).toBe(7);
    expect(second.stderr).toMatch(new RegExp(`an agent \\(pid ${agent.pid} on .*\\) already runs for file://`));

    // A job that crashes (killed outright, as by the OOM killer): the agent records it and goes on.
    const running = await waitFor('a backup running', async () =>
      (await history()).find((j) => j.kind === 'backup' && j.status === 'running'),
    );
    const pid = Number(JSON.parse((await execa('cat', [join(repo.dir!, 'history', `${running.id}.json`)])).stdout).pid);
    process.kill(pid, 'SIGKILL');
    const crashed = await waitFor('the crashed backup recorded', async () =>
      (await history()).find((j) => j.id === running.id && j.status === 'failed'),
    );
    expect(crashed.error).toMatch(/SIGKILL|died/);
    const after = await waitFor('a backup passing after the crash', async () =>
      passed(await history(), 'backup').find((j) => j.startedAt > running.startedAt),
    );
    expect(after.trigger).toBe('schedule');
    await waitFor(
      'four backups and their expires',
      async () => {
        const jobs = await history();
        return passed(jobs, 'backup').length >= 4 && passed(jobs, 'expire').length >= 3;
      },
      90_000,
    );

    agent.kill('SIGTERM');
    const stopped = await agent;
    expect(stopped.exitCode, stopped.all).toBe(0);
    agent = undefined;

    const jobs = await history();
    expect(jobs.every((j) => j.trigger === 'schedule')).toBe(true);
    expect(jobs.filter((j) => j.status === 'running')).toEqual([]);
    // The newest 2 backups stay, or 3 when the agent stopped between a backup and its expire.
    const lastBackup = passed(jobs, 'backup')[0]!;
    const expiredAfter = passed(jobs, 'expire').some((e) => e.startedAt > lastBackup.startedAt);
    const kept = await listed();
    expect(kept.length).toBe(expiredAfter ? 2 : 3);
    const status = JSON.parse((await pitr(['status', '--json'], { env })).stdout);
    expect(status.agent).toMatchObject({ stoppedAt: expect.any(String), reporting: false });
  }, 240_000);

  it('SIGTERM during a backup stops within 30 s, records it interrupted, leaves no visible partial backup; the next backup works', async () => {
    const before = await listed();
    await cluster.query('CREATE TABLE big AS SELECT g, repeat(md5(g::text), 20) AS pad FROM generate_series(1, 300000) g');
    agent = startAgent({ PITR_SCHEDULE_BACKUP: '*/2 * * * * *' });
    const running = await waitFor('a backup running', async () =>
      (await history()).find((j) => j.kind === 'backup' && j.status === 'running'),
    );
    const t0 = performance.now();
    agent.kill('SIGTERM');
    const stopped = await agent;
    agent = undefined;
    expect(stopped.exitCode, stopped.all).toBe(0);
    expect(performance.now() - t0).toBeLessThan(30_000);
    const job = (await history()).find((j) => j.id === running.id)!;
    if (job.status === 'failed') {
      expect(job.error).toMatch(/interrupted by SIGTERM|SIGTERM/);
      expect(await listed()).toEqual(before);
      // Its lock went with it: a backup from another host need not wait for it to go stale.
      expect(existsSync(join(repo.dir!, 'locks', 'backup.json'))).toBe(false);
    } else {
      // It had finished before the signal arrived: then it is whole and listed.
      expect(job.status).toBe('passed');
    }
    const next = await pitr(['backup'], { env });
    expect(next.exitCode, next.stderr).toBe(0);
    await cluster.query('DROP TABLE big');
  }, 120_000);

  it('SIGHUP reads the config file again: a broken one is refused and the agent goes on, a schedule turned on takes effect', async () => {
    // The repository only in the file, given after the word agent: its jobs must get it too.
    const file = join(repo.dir!, '..', 'agent-reload.env');
    const repoLine = `PITR_REPO=${env.PITR_REPO}\n`;
    await writeFile(file, `${repoLine}PITR_SCHEDULE_BACKUP=off\n`);
    agent = startAgent({ PITR_REPO: undefined }, ['--config', file]);
    const started = agent;
    // Its own first watch (an earlier agent's state.json is there too).
    const beat = await waitFor('a first health watch', async () => {
      const state = await agentState();
      return state.pid === started.pid && (state.heartbeatAt as string);
    });
    await writeFile(file, `${repoLine}PITR_SCHEDULE_BACKUP=61 2 * * *\n`);
    agent.kill('SIGHUP');
    await waitFor('the refusal in its log', async () => output.includes('configuration not reloaded'));
    expect(output).toMatch(/PITR_SCHEDULE_BACKUP \\"61 2 \* \* \*\\" is not a cron expression/);
    await waitFor('a watch after it', async () => (await agentState()).heartbeatAt > beat);
    const reloaded = new Date().toISOString();
    await writeFile(file, `${repoLine}PITR_SCHEDULE_BACKUP=*/2 * * * * *\n`);
    agent.kill('SIGHUP');
    const job = await waitFor('a scheduled backup after the reload', async () =>
      (await history()).find((j) => j.kind === 'backup' && j.trigger === 'schedule' && j.startedAt > reloaded && j.status === 'passed'),
    );
    expect(job.id).toMatch(/-backup-/);
    agent.kill('SIGTERM');
    expect((await agent).exitCode).toBe(0);
    agent = undefined;
  }, 120_000);

  describe('notifications', () => {
    let slack: WebhookReceiver;
    let hook: WebhookReceiver;
    let smtp: SmtpReceiver;

    beforeAll(async () => {
      [slack, hook, smtp] = await Promise.all([startWebhookReceiver(), startWebhookReceiver(), startSmtpReceiver()]);
    });
    afterAll(async () => {
      await Promise.all([slack?.close(), hook?.close(), smtp?.close()]);
    });

    const channels = () => ({
      PITR_NOTIFY_SLACK_WEBHOOK: slack.url,
      PITR_NOTIFY_WEBHOOK_URL: hook.url,
      PITR_NOTIFY_EMAIL_TO: 'dba@example.com',
      PITR_NOTIFY_EMAIL_FROM: 'pitr@example.com',
      PITR_SMTP_URL: smtp.url,
      PITR_NOTIFY_RETRY: '1s',
      PITR_SCHEDULE_BACKUP: 'off',
    });

    async function readOnly(on: boolean): Promise<void> {
      const walDir = join(repo.dir!, 'wal');
      const dirs = [walDir, ...(await readdir(walDir)).filter((d) => !d.includes('.')).map((d) => join(walDir, d))];
      for (const d of dirs) await chmod(d, on ? 0o555 : 0o755);
    }

    it('breaking archiving sends exactly one "failing" per channel, fixing it one "recovered"; a channel that is down does not hold up the others', async () => {
      // Healthy to begin with: a backup, and an expire (the earlier agents' last one may have been stopped with them).
      for (const job of ['backup', 'expire']) {
        const fresh = await pitr([job], { env });
        expect(fresh.exitCode, fresh.stderr).toBe(0);
      }
      // A new agent: what earlier agents notified is not this test's.
      await rm(join(repo.dir!, 'agent'), { recursive: true, force: true });
      agent = startAgent(channels());
      // Healthy at the start: a watch or two pass without a message.
      const firstBeat = await waitFor('a first health watch', async () => (await agentState()).heartbeatAt as string);
      await waitFor('two more watches', async () => (await agentState()).heartbeatAt > firstBeat && (await agentState()));
      expect([slack.received.length, hook.received.length, smtp.messages.length], JSON.stringify(hook.received.map((r) => r.body))).toEqual(
        [0, 0, 0],
      );

      await readOnly(true);
      try {
        await cluster.query('SELECT txid_current()');
        await cluster.switchWal();
        const [failing] = await hook.waitFor(1, 60_000);
        expect(failing!.body).toMatchObject({
          event: 'archiving-failing',
          status: 'failing',
          job: 'archiving',
          repo: expect.stringContaining('file://'),
        });
        expect((failing!.body as { message: string }).message).toMatch(/archiving is failing/);
        const [slackFailing] = await slack.waitFor(1, 30_000);
        expect((slackFailing!.body as { text: string }).text).toMatch(/FAILING[\s\S]*archiving/i);
        const [mail] = await smtp.waitFor(1, 30_000);
        expect(mail!.subject).toMatch(/FAILING: archiving/);
        // More watches while it still fails: no second message.
        const beat = (await agentState()).heartbeatAt;
        await waitFor('two more watches', async () => (await agentState()).heartbeatAt > beat && (await agentState()));
      } finally {
        await readOnly(false);
      }
      await cluster.switchWal();
      await hook.waitFor(2, 120_000);
      await slack.waitFor(2, 30_000);
      await smtp.waitFor(2, 30_000);
      const beat = (await agentState()).heartbeatAt;
      await waitFor('two more watches', async () => (await agentState()).heartbeatAt > beat && (await agentState()));
      const bodies = hook.received.map((r) => r.body as { status: string; job: string });
      expect(bodies.map((b) => [b.job, b.status])).toEqual([
        ['archiving', 'failing'],
        ['archiving', 'recovered'],
      ]);
      expect(slack.received).toHaveLength(2);
      expect(smtp.messages.map((m) => m.subject)).toEqual([expect.stringMatching(/FAILING/), expect.stringMatching(/RECOVERED/)]);

      // The webhook goes down: the others still hear at once, and the agent reports the channel.
      await hook.close();
      await readOnly(true);
      try {
        await cluster.query('SELECT txid_current()');
        await cluster.switchWal();
        await slack.waitFor(3, 60_000);
        await smtp.waitFor(3, 30_000);
        const state = await waitFor('the webhook channel reported failing', async () => {
          const s = await agentState();
          return s.channels.find((c: { name: string; healthy: boolean }) => c.name === 'webhook' && !c.healthy) && s;
        });
        expect(JSON.stringify(state)).not.toContain(hook.url);
        const status = await pitr(['status', '--json'], { env });
        expect(status.stdout).toMatch(/notification channel webhook \(http:\/\/127\.0\.0\.1:\d+\) has failed/);
      } finally {
        await readOnly(false);
      }
      const all = agent.kill('SIGTERM') && (await agent);
      agent = undefined;
      expect(all && all.all).not.toContain(new URL(hook.url).pathname);
    }, 300_000);
  });
});
