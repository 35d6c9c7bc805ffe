// The Docker demo for real, where a Docker engine runs (`npm run test:docker`; not part of
// `npm test`: this project's CI machines have no engine, and test/unit/deploy-docker.test.ts
// checks the files there). testcontainers builds both images from docker/ and starts the
// compose file as README's "Try it with Docker" does; then, through the agent's API only:
// PostgreSQL has archived WAL into MinIO through pitr, a backup started with the token
// passes, a restore test of it passes, and /metrics counts the backup.
import { randomBytes } from 'node:crypto';
import { rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { DockerComposeEnvironment, Wait, type StartedDockerComposeEnvironment } from 'testcontainers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor, ROOT } from '../../tools/harness/env.js';

const DOCKER = join(ROOT, 'docker');
const TOKEN_FILE = join(DOCKER, 'pitr-token.env');
const token = randomBytes(24).toString('hex');

describe('docker/docker-compose.yml with a Docker engine', () => {
  let env: StartedDockerComposeEnvironment;
  let base: string;
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`${base}${path}`, { ...init, headers: { authorization: `Bearer ${token}`, ...(init.headers ?? {}) } });
  const history = async () => ((await (await api('/api/history')).json()) as { jobs: { id: string; status: string; kind: string }[] }).jobs;
  const jobEnded = async (id: string) => {
    let status = '';
    await waitFor(
      `job ${id} ended`,
      async () => {
        status = (await history()).find((j) => j.id === id)?.status ?? 'unknown';
        return status === 'passed' || status === 'failed';
      },
      600_000,
    );
    return status;
  };

  beforeAll(async () => {
    await writeFile(TOKEN_FILE, `PITR_HTTP_TOKEN=${token}\n`, { mode: 0o600 });
    env = await new DockerComposeEnvironment(DOCKER, 'docker-compose.yml')
      .withBuild()
      .withProjectName(`pitr-test-${randomBytes(3).toString('hex')}`)
      .withWaitStrategy('agent-1', Wait.forHttp('/healthz', 9733))
      .withStartupTimeout(900_000)
      .up();
    base = `http://127.0.0.1:${env.getContainer('agent-1').getMappedPort(9733)}`;
  }, 1_200_000);
  afterAll(async () => {
    await env?.down({ removeVolumes: true });
    await rm(TOKEN_FILE, { force: true });
  });

  it('archives through pitr into MinIO, backs up and proves the backup through the API', async () => {
    // archive_timeout=60 switches WAL at least every minute: the first segment reaches MinIO.
    await waitFor(
      'WAL archived',
      async () => {
        const status = (await (await api('/api/status')).json()) as { lastArchived: { wal: string } | null };
        return status.lastArchived !== null;
      },
      300_000,
    );

    const backup = (await (await api('/api/backups', { method: 'POST' })).json()) as { id: string };
    expect(await jobEnded(backup.id)).toBe('passed');
    const listing = (await (await api('/api/backups')).json()) as { backups: { id: string }[] };
    expect(listing.backups).toHaveLength(1);

    const test = (await (await api('/api/restore-tests', { method: 'POST' })).json()) as { id: string };
    expect(await jobEnded(test.id)).toBe('passed');

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(/^pitr_backups 1$/m);
  }, 1_200_000);
});
