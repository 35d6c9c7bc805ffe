// S3 server-side encryption and storage class reach the store on every upload: a recording
// proxy between pitr and s3rver keeps each request's method, path and headers, while a real
// server archives and a backup large enough for a multipart upload is taken.
import { writeFile } from 'node:fs/promises';
import { createServer, request, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pitr } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, s3Repo, type RepoFixture } from '../support/repos.js';
import { useS3Store } from '../support/s3.js';

const s3 = useS3Store();

interface Recorded {
  method: string;
  path: string;
  headers: IncomingHttpHeaders;
}

/** Forwards every request to `target` unchanged (the Host header too, which the signature covers) and records it. */
async function recordingProxy(target: string): Promise<{ server: Server; endpoint: string; seen: Recorded[] }> {
  const seen: Recorded[] = [];
  const to = new URL(target);
  const server = createServer((req, res) => {
    seen.push({ method: req.method!, path: req.url!, headers: req.headers });
    const forward = request({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(res);
    });
    forward.on('error', () => res.destroy());
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

describe('S3 server-side encryption and storage class', () => {
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let repo: RepoFixture;
  let cluster: Cluster;
  const settings = { PITR_S3_SSE: 'AES256', PITR_S3_STORAGE_CLASS: 'STANDARD_IA' };

  beforeAll(async () => {
    proxy = await recordingProxy(s3().endpoint);
    repo = await s3Repo(s3());
    // The same bucket, reached through the proxy, with the settings.
    Object.assign(repo.env, { PITR_S3_ENDPOINT: proxy.endpoint, ...settings });
    await writeFile(
      repo.configFile,
      `${Object.entries(repo.env)
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\n`,
    );
    cluster = await Cluster.create({ conf: archivingInto(repo) });
    await cluster.start();
  });
  afterAll(async () => {
    await cluster?.stop('immediate');
    await new Promise((resolve) => proxy?.server.close(resolve));
  });

  it('sends them with every WAL object and every part of a backup, single and multipart', async () => {
    // ~40 MB of hexadecimal text: about 20 MB stored, more than one 8 MiB part.
    await cluster.query('CREATE TABLE t AS SELECT g, md5(g::text) || md5((g * 7)::text) AS v FROM generate_series(1, 500000) g');
    const res = await pitr(['backup'], { env: { ...repo.env, ...cluster.libpqEnv, PITR_BACKUP_WAL_TIMEOUT: '60' } });
    expect(res.exitCode, res.stderr).toBe(0);

    const uploads = proxy.seen.filter((r) => r.method === 'PUT' && !r.path.includes('partNumber='));
    const created = proxy.seen.filter((r) => r.method === 'POST' && r.path.includes('uploads'));
    const wal = uploads.filter((r) => r.path.includes('/wal/'));
    expect(wal.length).toBeGreaterThan(0);
    expect(created.length, 'a multipart upload for the backup').toBeGreaterThan(0);
    for (const r of [...uploads, ...created]) {
      expect(r.headers['x-amz-server-side-encryption'], `${r.method} ${r.path}`).toBe('AES256');
      expect(r.headers['x-amz-storage-class'], `${r.method} ${r.path}`).toBe('STANDARD_IA');
    }
    // And the repository works through it: the backup is listed whole.
    const listed = JSON.parse((await pitr(['list', '--json'], { env: repo.env })).stdout) as { backups: { walComplete: boolean }[] };
    expect(listed.backups.map((b) => b.walComplete)).toEqual([true]);
  });

  it('refuses a storage class a restore cannot read at once, and a KMS key without aws:kms, in one line', async () => {
    const glacier = await pitr(['list'], { env: { ...repo.env, PITR_S3_STORAGE_CLASS: 'GLACIER' } });
    expect(glacier.exitCode).toBe(2);
    expect(glacier.stderr.trim().split('\n')).toHaveLength(1);
    expect(glacier.stderr).toContain('is GLACIER, whose objects cannot be read without a restore request');
    const kms = await pitr(['list'], { env: { ...repo.env, PITR_S3_SSE: 'AES256', PITR_S3_SSE_KMS_KEY_ID: 'alias/x' } });
    expect(kms.exitCode).toBe(2);
    expect(kms.stderr).toContain('for aws:kms encryption, but PITR_S3_SSE is AES256: set it to aws:kms');
  });
});
