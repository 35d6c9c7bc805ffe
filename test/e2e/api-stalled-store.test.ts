// A repository that stops answering never holds the agent's /healthz or /metrics: they answer
// at once from the last health watch, /api/status says how old that is (Age), and once the
// store answers again the watches go on. The store is s3rver behind a TCP relay the test can
// stall: connections stay open and nothing more goes through, as with a hung network path.
import { randomBytes } from 'node:crypto';
import { createConnection, createServer, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { waitFor } from '../../tools/harness/env.js';
import { startHttpAgent, type HttpAgent } from '../support/http-agent.js';
import { useS3Store } from '../support/s3.js';

/** A TCP relay to `target` whose traffic can be held (both ways, new connections too) and let go. */
async function stallableRelay(target: URL): Promise<{ url: string; hold(on: boolean): void; close(): void }> {
  let held = false;
  const pairs = new Set<[Socket, Socket]>();
  const setHeld = (s: Socket) => (held ? s.pause() : s.resume());
  const server = createServer((client) => {
    const upstream = createConnection(Number(target.port), target.hostname);
    const pair: [Socket, Socket] = [client, upstream];
    pairs.add(pair);
    client.pipe(upstream).pipe(client);
    for (const s of pair) {
      s.on('error', () => pair.forEach((x) => x.destroy()));
      s.on('close', () => pairs.delete(pair));
      setHeld(s);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    hold(on) {
      held = on;
      for (const pair of pairs) pair.forEach(setHeld);
    },
    close() {
      for (const pair of pairs) pair.forEach((s) => s.destroy());
      server.close();
    },
  };
}

describe('pitr agent over HTTP while its repository stalls', () => {
  const s3 = useS3Store();
  let relay: Awaited<ReturnType<typeof stallableRelay>>;
  let agent: HttpAgent | undefined;

  beforeAll(async () => {
    const { env } = await s3().newRepo();
    relay = await stallableRelay(new URL(env.PITR_S3_ENDPOINT!));
    agent = await startHttpAgent(
      { ...process.env, ...env, PITR_S3_ENDPOINT: relay.url, PGHOST: '127.0.0.1', PGPORT: '9' } as Record<string, string>,
      randomBytes(16).toString('hex'),
    );
  }, 120_000);
  afterAll(async () => {
    relay?.hold(false);
    await agent?.stop();
    relay?.close();
  });

  it('answers /healthz and /metrics at once from the last watch, and says how old it is', async () => {
    const base = agent!.base;
    relay.hold(true);
    // The watches are stuck now: what /api/status serves grows old.
    await waitFor('the last watch to be 3 s old', async () => Number((await fetch(`${base}/api/status`)).headers.get('age')) >= 3, 30_000);
    // The store stays held until these have answered: a route that waited for it would never answer.
    for (const path of ['/healthz', '/metrics', '/api/status', '/healthz', '/metrics']) {
      const res = await fetch(`${base}${path}`);
      await res.text();
      expect(res.status, path).toBe(200);
    }
    expect(await (await fetch(`${base}/metrics`)).text()).toMatch(/^pitr_last_health_watch_timestamp_seconds \d/m);
    const health = (await (await fetch(`${base}/healthz`)).json()) as { ageSeconds: number };
    expect(health.ageSeconds).toBeGreaterThanOrEqual(3);
    relay.hold(false);
    await waitFor(
      'a fresh watch once the store answers',
      async () => Number((await fetch(`${base}/api/status`)).headers.get('age')) <= 1,
      90_000,
    );
  }, 150_000);
});
