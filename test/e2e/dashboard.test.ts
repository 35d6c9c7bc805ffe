// The agent's dashboard in a real browser (the system Chromium, driven by playwright-core)
// against a real cluster archiving into a file:// repository: the page shows the health as
// /api/status says it, every backup of /api/backups, the restorable window; "Run restore
// test" asks the token once and the job ends as passed in the history; at phone width the
// page does not scroll sideways. Screenshots go to test-artifacts/.
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pino from 'pino';
import { startApiServer } from '../../src/api/server.js';
import type { Listing } from '../../src/repository/listing.js';
import type { StatusReport } from '../../src/status/status.js';
import { pitr, ROOT, waitFor } from '../../tools/harness/env.js';
import type { Cluster } from '../../tools/harness/postgres.js';
import { CHROMIUM, CHROMIUM_ARGS } from '../../tools/harness/chromium.js';
import { archivingCluster, fileRepo, type RepoFixture } from '../support/repos.js';
import { startHttpAgent, type HttpAgent } from '../support/http-agent.js';

const ARTIFACTS = join(ROOT, 'test-artifacts');

// Chromium is a Debian package .ci/run installs: without it this fails, it is not skipped.
describe('the agent dashboard in Chromium', () => {
  let repo: RepoFixture;
  let cluster: Cluster;
  let env: Record<string, string>;
  let agent: HttpAgent | undefined;
  let base: string;
  let browser: BrowserContext | undefined;
  let profile: string;
  const token = randomBytes(24).toString('hex');
  const api = async <T>(path: string) => (await (await fetch(`${base}${path}`)).json()) as T;

  beforeAll(async () => {
    repo = await fileRepo();
    ({ cluster, env } = await archivingCluster(repo));
    await cluster.query('CREATE TABLE t AS SELECT generate_series(1, 1000) AS n');
    for (let i = 0; i < 2; i++) {
      const backup = await pitr(['backup'], { env });
      expect(backup.exitCode, backup.stderr).toBe(0);
    }
    agent = await startHttpAgent(env, token);
    base = agent.base;
    await mkdir(ARTIFACTS, { recursive: true });
    profile = await mkdtemp(join(tmpdir(), 'pitr-chromium-'));
    browser = await chromium.launchPersistentContext(profile, { executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS });
  }, 180_000);
  afterAll(async () => {
    await browser?.close();
    if (profile) await rm(profile, { recursive: true, force: true });
    await agent?.stop();
    await cluster?.stop('immediate');
  });

  it('serves the page with a strict CSP, and downloads a backup only with the token', async () => {
    const page = await fetch(`${base}/`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    expect(page.headers.get('content-security-policy')).toMatch(/default-src 'self'/);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    for (const asset of ['/dashboard.js', '/dashboard.css']) expect((await fetch(`${base}${asset}`)).status).toBe(200);

    const { backups } = await api<{ backups: { id: string; files: { key: string; storedSize: number }[] }[] }>('/api/backups');
    const first = backups[0]!;
    const url = `${base}/api/backups/${first.id}/download`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { Authorization: 'Bearer nope' } })).status).toBe(403);
    expect((await fetch(`${base}/api/backups/nope/download`, { headers: { Authorization: `Bearer ${token}` } })).status).toBe(404);
    const res = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-disposition')).toBe(`attachment; filename="${first.files[0]!.key.split('/').at(-1)}"`);
    expect((await res.arrayBuffer()).byteLength).toBe(first.files[0]!.storedSize);

    // A one-use link, asked for with the token, works without it: once, for that backup only.
    const linkOf = (id: string, headers: Record<string, string>) =>
      fetch(`${base}/api/backups/${id}/download-link`, { method: 'POST', headers });
    expect((await linkOf(first.id, {})).status).toBe(401);
    expect((await linkOf(first.id, { Authorization: 'Bearer nope' })).status).toBe(403);
    const issued = await linkOf(first.id, { Authorization: `Bearer ${token}` });
    expect(issued.status).toBe(201);
    const link = ((await issued.json()) as { url: string }).url;
    expect(link).not.toContain(token);
    const got = await fetch(`${base}${link}`);
    expect(got.status).toBe(200);
    expect((await got.arrayBuffer()).byteLength).toBe(first.files[0]!.storedSize);
    expect((await fetch(`${base}${link}`)).status).toBe(403);
    const other = ((await (await linkOf(first.id, { Authorization: `Bearer ${token}` })).json()) as { url: string }).url;
    expect((await fetch(`${base}${other.replace(first.id, backups[1]!.id)}`)).status).toBe(403);
  });

  it('shows the health and every backup, and runs a restore test with the token to its end', async () => {
    const page = await browser!.newPage();
    await page.setViewportSize({ width: 1280, height: 900 });
    const outside: string[] = [];
    page.on('request', (r) => {
      if (!r.url().startsWith(base)) outside.push(r.url());
    });
    // Every answer the page received, for the check that none carries the token back.
    const answers: Promise<string>[] = [];
    page.on('response', (r) => void answers.push(r.text().catch(() => '')));
    await page.goto(base);
    const status = await api<{ healthy: boolean; problems: string[] }>('/api/status');
    await expect.poll(() => page.textContent('#health')).toBe(status.healthy ? 'Healthy' : 'Unhealthy');
    for (const problem of status.problems) expect(await page.textContent('#problems')).toContain(problem);

    const { backups } = await api<{ backups: { id: string }[] }>('/api/backups');
    expect(backups).toHaveLength(2);
    for (const b of backups) await page.locator(`#backups tr[data-id="${b.id}"]`).waitFor();
    expect(await page.locator('#window .restorable').count()).toBe(1);
    expect(await page.locator('#wal-chart rect').count()).toBe(24);

    // The unpack command of a backup.
    await page.locator(`#backups tr[data-id="${backups[0]!.id}"] button.get`).click();
    expect(await page.textContent('#get-panel .unpack')).toMatch(/lz4 -d .*\| tar -x -C restored/);

    const before = new Set((await api<{ jobs: { id: string }[] }>('/api/history?limit=50')).jobs.map((j) => j.id));
    await page.click('#restore-test');
    await page.fill('#token', token);
    await page.click('#token-form button[type=submit]');
    const job = await waitFor('the restore test to start', async () => {
      const { jobs } = await api<{ jobs: { id: string; kind: string }[] }>('/api/history?limit=50');
      return jobs.find((j) => j.kind === 'restore-test' && !before.has(j.id));
    });
    expect(await page.evaluate(() => sessionStorage.getItem('pitr-token'))).toBe(token);
    await page.locator(`#history tr[data-job-id="${job.id}"]`).waitFor({ timeout: 30_000 });
    await page.locator(`#history tr[data-job-id="${job.id}"][data-status="passed"]`).waitFor({ timeout: 240_000 });
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard.png'), fullPage: true });

    // Download, with the token already given: the browser saves the stored file from a one-use link.
    await page.locator(`#backups tr[data-id="${backups[0]!.id}"] button.get`).click();
    const [saved] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
    const listed = (await api<{ backups: { id: string; files: { key: string; storedSize: number }[] }[] }>('/api/backups')).backups[0]!;
    expect(saved.suggestedFilename()).toBe(listed.files[0]!.key.split('/').at(-1));
    expect((await stat((await saved.path())!)).size).toBe(listed.files[0]!.storedSize);
    expect(outside).toEqual([]);
    const bodies = await Promise.all(answers);
    expect(bodies.length).toBeGreaterThan(5);
    expect(bodies.join('\n')).not.toContain(token);
    await page.close();
  }, 300_000);

  it('fits a phone: no sideways scrolling at 390 px', async () => {
    const page = await browser!.newPage();
    await page.setViewportSize({ width: 390, height: 844 });
    await page.goto(base);
    await page.locator('#backups tbody tr').first().waitFor();
    await page.screenshot({ path: join(ARTIFACTS, 'dashboard-phone.png'), fullPage: true });
    const width = await page.evaluate(() => document.documentElement.scrollWidth);
    expect(width).toBeLessThanOrEqual(await page.evaluate(() => window.innerWidth));
    expect(width).toBeLessThanOrEqual(390);
    await page.close();
  });

  it('draws 1,000 backups and a day of WAL quickly', async () => {
    const now = Date.now();
    const backups = Array.from({ length: 1000 }, (_, i) => {
      const stop = new Date(now - (1000 - i) * 3600_000);
      return {
        id: `backup-${String(i).padStart(4, '0')}`,
        stopTime: stop.toISOString(),
        startTime: new Date(stop.getTime() - 60_000).toISOString(),
        durationMs: 60_000,
        walComplete: i !== 500,
        pinned: i === 0,
        files: [
          {
            key: `backups/backup-${i}/base.tar.lz4.age`,
            name: 'base.tar',
            compression: 'lz4',
            encryption: 'age',
            size: 1e9,
            storedSize: 3e8,
          },
        ],
      };
    });
    const listing = {
      repository: 'file:///big/',
      backups,
      restorableWindow: { from: backups[1]!.stopTime, to: new Date(now - 60_000).toISOString(), lastWal: '', end: 'last-transaction' },
      walArchivedPerHour: { from: new Date(now - 23 * 3600_000).toISOString(), counts: Array.from({ length: 24 }, (_, i) => 4000 + i) },
    } as unknown as Listing;
    const report = {
      repository: 'file:///big/',
      healthy: false,
      problems: ['the last backup is 2 days old'],
      warnings: [],
      walGap: null,
      database: { reachable: true, backlog: { ready: 3 } },
    } as unknown as StatusReport;
    const server = await startApiServer({
      listen: { host: '127.0.0.1', port: 0 },
      token: () => token,
      log: pino({ level: 'silent' }),
      sources: {
        status: () => ({ value: report, at: new Date() }),
        backups: () => Promise.resolve({ value: listing, at: new Date() }),
        history: () => Promise.resolve([]),
        start: () => Promise.resolve(null),
        metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
        backlog: () => Array.from({ length: 1440 }, (_, i) => ({ at: new Date(now - (1440 - i) * 60_000).toISOString(), ready: i % 50 })),
        download: () => Promise.resolve(null),
      },
    });
    try {
      const page = await browser!.newPage();
      await page.setViewportSize({ width: 1280, height: 900 });
      const t0 = Date.now();
      await page.goto(server.url);
      await page.locator('#backups tr[data-id="backup-0999"]').waitFor();
      const took = Date.now() - t0;
      expect(took).toBeLessThan(3000);
      expect(await page.locator('#backups tbody tr').count()).toBe(1000);
      expect(await page.textContent('#health')).toBe('Unhealthy');
      expect(await page.textContent('#problems')).toContain('the last backup is 2 days old');
      await page.locator('#backups tr[data-id="backup-0001"] button.get').click();
      expect(await page.textContent('#get-panel .unpack')).toBe(
        'mkdir -p restored && age -d -i key.txt base.tar.lz4.age | lz4 -d | tar -x -C restored',
      );
      await page.evaluate(() => window.scrollTo(0, 0));
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-1000.png') });
      await page.close();
    } finally {
      await server.close();
    }
  });
});
