// The agent's HTTP server when its sources fail: a repository error is a 503 carrying pitr's
// one-line error (what failed, what to do), a bug a 500 that says only "see the agent log";
// /healthz answers either way.
import { connect } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startApiServer, type ApiServer } from '../../src/api/server.js';
import { StorageUnavailableError } from '../../src/errors.js';
import { createLogger } from '../../src/log.js';

describe('the HTTP server when a source fails', () => {
  let server: ApiServer;
  beforeAll(async () => {
    server = await startApiServer({
      listen: { host: '127.0.0.1', port: 0 },
      token: () => undefined,
      log: createLogger('silent', 'test'),
      sources: {
        status: () => null,
        backups: () => Promise.reject(new StorageUnavailableError('cannot reach s3://b/x: check PITR_S3_ENDPOINT')),
        history: () => Promise.reject(new TypeError('x is undefined (internal detail)')),
        start: () => Promise.resolve(null),
        metrics: () => Promise.resolve({ contentType: 'text/plain', body: '' }),
        download: () => Promise.resolve(null),
        backlog: () => [],
      },
    });
  });
  afterAll(async () => {
    await server?.close();
  });

  it('answers 503 with the error for a repository that fails, 500 without detail for a bug', async () => {
    const backups = await fetch(`${server.url}/api/backups`);
    expect(backups.status).toBe(503);
    expect(await backups.json()).toEqual({ error: 'cannot reach s3://b/x: check PITR_S3_ENDPOINT' });
    const history = await fetch(`${server.url}/api/history`);
    expect(history.status).toBe(500);
    expect(await history.json()).toEqual({ error: 'internal error: see the agent log' });
    const status = await fetch(`${server.url}/api/status`);
    expect(status.status).toBe(503);
    expect(status.headers.get('retry-after')).toBe('5');
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it('answers 400 to a request target that Node takes and URL refuses', async () => {
    const { port } = new URL(server.url);
    const reply = await new Promise<string>((resolve, reject) => {
      const socket = connect(Number(port), '127.0.0.1', () =>
        socket.end('GET //x:99999/?ticket=abc HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n'),
      );
      let text = '';
      socket.setEncoding('utf8').on('data', (d: string) => (text += d));
      socket.on('end', () => resolve(text)).on('error', reject);
    });
    expect(reply).toMatch(/^HTTP\/1\.1 400 /);
  });
});
