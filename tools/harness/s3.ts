// A real S3-compatible server for tests: s3rver on loopback, in a child process.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './env.js';

export class S3Server {
  private constructor(
    private proc: ResultPromise,
    readonly dir: string,
    readonly port: number,
  ) {}

  get endpoint(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  static async start(dir?: string, port = 0): Promise<S3Server> {
    const directory = dir ?? (await mkdtemp(join(tmpdir(), 'pitr-s3rver-')));
    const proc = execa(process.execPath, ['--openssl-legacy-provider', join(ROOT, 'tools/harness/s3rver-main.mjs'), directory, String(port)], {
      reject: false,
      stdout: 'pipe',
    });
    const actual = await new Promise<number>((resolve, reject) => {
      proc.stdout!.on('data', (chunk: Buffer) => {
        const m = /listening (\d+)/.exec(chunk.toString());
        if (m) resolve(Number(m[1]));
      });
      proc.once('exit', (code) => reject(new Error(`s3rver exited with ${code}`)));
    });
    return new S3Server(proc, directory, actual);
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.proc;
  }

  /** Starts again on the same port and directory (for "store came back" tests). */
  async restart(): Promise<void> {
    await this.stop();
    const next = await S3Server.start(this.dir, this.port);
    this.proc = next.proc;
  }

  client(): S3Client {
    return new S3Client({
      region: 'us-east-1',
      endpoint: this.endpoint,
      forcePathStyle: true,
      credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
    });
  }

  /** A new empty bucket; returns the environment that points pitr at it. */
  async newRepo(): Promise<{ bucket: string; env: Record<string, string> }> {
    const bucket = `pitr-${randomBytes(4).toString('hex')}`;
    await this.client().send(new CreateBucketCommand({ Bucket: bucket }));
    return {
      bucket,
      env: {
        PITR_REPO: `s3://${bucket}/main`,
        PITR_S3_ENDPOINT: this.endpoint,
        PITR_S3_FORCE_PATH_STYLE: 'true',
        AWS_ACCESS_KEY_ID: 'S3RVER',
        AWS_SECRET_ACCESS_KEY: 'S3RVER',
      },
    };
  }
}
