// A real S3-compatible server for tests: s3rver on loopback, in a child process; or, where a
// Docker engine runs and PITR_TEST_S3=minio asks for it, MinIO through testcontainers.
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';
import { execa, type ResultPromise } from 'execa';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './env.js';

/** What the tests need of an S3-compatible store. */
export interface S3Store {
  readonly endpoint: string;
  client(): S3Client;
  /** A new empty bucket; returns the environment that points pitr at it. */
  newRepo(): Promise<{ bucket: string; env: Record<string, string> }>;
  stop(): Promise<void>;
}

/** s3rver by default; MinIO in a container when asked for and a Docker engine is there. */
export async function startS3Store(): Promise<S3Store> {
  if (process.env.PITR_TEST_S3 !== 'minio') return S3Server.start();
  // Importing testcontainers costs ~1 s and its runtime check fails anyway without an engine.
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) {
    throw new Error('PITR_TEST_S3=minio needs a Docker engine (DOCKER_HOST or /var/run/docker.sock)');
  }
  return MinioStore.start();
}

function clientFor(endpoint: string, accessKeyId: string, secretAccessKey: string): S3Client {
  return new S3Client({
    region: 'us-east-1',
    endpoint,
    forcePathStyle: true,
    credentials: { accessKeyId, secretAccessKey },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
}

async function createRepoBucket(store: S3Store, accessKeyId: string, secretAccessKey: string) {
  const bucket = `pitr-${randomBytes(4).toString('hex')}`;
  await store.client().send(new CreateBucketCommand({ Bucket: bucket }));
  return {
    bucket,
    env: {
      PITR_REPO: `s3://${bucket}/main`,
      PITR_S3_ENDPOINT: store.endpoint,
      PITR_S3_FORCE_PATH_STYLE: 'true',
      AWS_ACCESS_KEY_ID: accessKeyId,
      AWS_SECRET_ACCESS_KEY: secretAccessKey,
    },
  };
}

class MinioStore implements S3Store {
  private constructor(
    private readonly container: { stop(): Promise<unknown> },
    readonly endpoint: string,
  ) {}

  static async start(): Promise<MinioStore> {
    const { GenericContainer, Wait } = await import('testcontainers');
    const container = await new GenericContainer('minio/minio:latest')
      .withCommand(['server', '/data'])
      .withEnvironment({ MINIO_ROOT_USER: MINIO_USER, MINIO_ROOT_PASSWORD: MINIO_PASSWORD })
      .withExposedPorts(9000)
      .withWaitStrategy(Wait.forHttp('/minio/health/ready', 9000))
      .start();
    return new MinioStore(container, `http://${container.getHost()}:${container.getMappedPort(9000)}`);
  }

  client(): S3Client {
    return clientFor(this.endpoint, MINIO_USER, MINIO_PASSWORD);
  }

  newRepo() {
    return createRepoBucket(this, MINIO_USER, MINIO_PASSWORD);
  }

  async stop(): Promise<void> {
    await this.container.stop();
  }
}

const MINIO_USER = 'pitr-test';
const MINIO_PASSWORD = 'pitr-test-secret';

/** PEM files for an HTTPS s3rver (the benchmark's, for pgBackRest, which speaks S3 over TLS only). */
export interface S3Tls {
  keyFile: string;
  certFile: string;
}

export class S3Server implements S3Store {
  private constructor(
    private proc: ResultPromise,
    readonly dir: string,
    readonly port: number,
    readonly tls?: S3Tls,
  ) {}

  get endpoint(): string {
    return `${this.tls ? 'https' : 'http'}://127.0.0.1:${this.port}`;
  }

  static async start(dir?: string, port = 0, tls?: S3Tls): Promise<S3Server> {
    const directory = dir ?? (await mkdtemp(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-s3rver-')));
    const args = [join(ROOT, 'tools/harness/s3rver-main.mjs'), directory, String(port), ...(tls ? [tls.keyFile, tls.certFile] : [])];
    const proc = execa(process.execPath, ['--openssl-legacy-provider', ...args], {
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
    return new S3Server(proc, directory, actual, tls);
  }

  async stop(): Promise<void> {
    this.proc.kill('SIGKILL');
    await this.proc;
  }

  /** Starts again on the same port and directory (for "store came back" tests). */
  async restart(): Promise<void> {
    await this.stop();
    const next = await S3Server.start(this.dir, this.port, this.tls);
    this.proc = next.proc;
  }

  // s3rver accepts exactly these credentials.
  client(): S3Client {
    return clientFor(this.endpoint, 'S3RVER', 'S3RVER');
  }

  newRepo() {
    return createRepoBucket(this, 'S3RVER', 'S3RVER');
  }
}
