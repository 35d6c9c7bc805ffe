// s3:// repository: AWS S3 or any S3-compatible store. Loaded only when the repository is
// S3 (the SDK costs ~150 ms to import). Every request has bounded connect and socket
// timeouts and a bounded number of attempts, so a dead endpoint fails in seconds.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  DeleteObjectCommand,
  DeleteObjectsCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  type GetObjectCommandOutput,
  type ListObjectsV2CommandOutput,
  type StorageClass,
} from '@aws-sdk/client-s3';
import type { S3Settings } from '../config/config.js';
import { AlreadyExistsError, ConfigError, PitrError, StorageError, StorageUnavailableError } from '../errors.js';
import type { Listing, ObjectHead, PutOptions, Storage } from './storage.js';

/** S3's most keys in one DeleteObjects request. */
const DELETE_BATCH = 1000;

export class S3Storage implements Storage {
  readonly url: string;
  readonly atomicWrites: boolean;
  /** Server-side encryption and storage class, as PutObject / CreateMultipartUpload parameters. */
  private readonly uploadParams: { ServerSideEncryption?: 'AES256' | 'aws:kms'; SSEKMSKeyId?: string; StorageClass?: StorageClass };
  /** The SDK client: the test's crash injection (storage/crash-injection.ts) adds a middleware to it. */
  readonly client: S3Client;
  private readonly base: string;
  private readonly attempts: number;

  constructor(
    private readonly bucket: string,
    prefix: string,
    settings: S3Settings,
  ) {
    this.base = prefix ? `${prefix.replace(/\/+$/, '')}/` : '';
    this.url = `s3://${bucket}/${this.base}`;
    this.attempts = settings.maxAttempts;
    this.atomicWrites = settings.atomicWrites;
    // On every upload, single and multipart (CreateMultipartUpload carries them for the parts).
    this.uploadParams = {
      ...(settings.sse ? { ServerSideEncryption: settings.sse.algorithm } : {}),
      ...(settings.sse?.kmsKeyId ? { SSEKMSKeyId: settings.sse.kmsKeyId } : {}),
      ...(settings.storageClass ? { StorageClass: settings.storageClass as StorageClass } : {}),
    };
    const checksum = settings.checksum === 'when_supported' ? 'WHEN_SUPPORTED' : 'WHEN_REQUIRED';
    this.client = new S3Client({
      region: settings.region,
      endpoint: settings.endpoint,
      forcePathStyle: settings.forcePathStyle,
      maxAttempts: settings.maxAttempts,
      retryMode: 'standard',
      // WHEN_SUPPORTED sends streamed bodies aws-chunked, which many S3-compatible stores
      // store verbatim (framing included). pitr checks SHA-256 end to end and sends
      // Content-MD5 on every put, so nothing is lost by asking only when required.
      requestChecksumCalculation: checksum,
      responseChecksumValidation: checksum,
      // Without throwOnRequestTimeout the SDK only logs a warning when the timeout passes and
      // waits forever on a server that accepted the connection but never answers.
      requestHandler: {
        connectionTimeout: settings.connectTimeoutMs,
        requestTimeout: settings.requestTimeoutMs,
        throwOnRequestTimeout: true,
      },
    });
  }

  private k(key: string): string {
    return this.base + key;
  }

  async get(key: string): Promise<Buffer | null> {
    return (await this.read(key))?.bytes ?? null;
  }

  async getHead(key: string, length: number): Promise<ObjectHead | null> {
    return this.read(key, `bytes=0-${length - 1}`);
  }

  private async read(key: string, range?: string): Promise<ObjectHead | null> {
    try {
      const res = await this.getObject(key, range);
      if (!res) return null;
      const raw = await res.Body!.transformToByteArray();
      const bytes = Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength);
      // "bytes 0-4095/123456": the total follows the slash; without a range, the body is all of it.
      const total = /\/(\d+)$/.exec(res.ContentRange ?? '')?.[1];
      return { bytes, size: total === undefined ? bytes.length : Number(total) };
    } catch (err) {
      if ((err as SdkError).name === 'InvalidRange') return { bytes: Buffer.alloc(0), size: 0 }; // an empty object
      if (err instanceof PitrError) throw err;
      return this.fail(err, 'read', key);
    }
  }

  async put(key: string, body: Buffer, options: PutOptions = {}): Promise<void> {
    const md5 = createHash('md5').update(body).digest('base64');
    try {
      await this.client.send(
        new PutObjectCommand({
          Bucket: this.bucket,
          Key: this.k(key),
          Body: body,
          ContentLength: body.length,
          ContentMD5: md5,
          ...this.uploadParams,
          ...(options.noOverwrite ? { IfNoneMatch: '*' } : {}),
        }),
      );
    } catch (err) {
      const e = err as SdkError;
      if (options.noOverwrite && (e.name === 'PreconditionFailed' || e.$metadata?.httpStatusCode === 412)) {
        throw new AlreadyExistsError(key);
      }
      return this.fail(err, 'write', key);
    }
  }

  async putStream(key: string, body: Readable): Promise<void> {
    // lib-storage uploads in parts; memory is bounded by partSize x queueSize. A killed
    // process leaves an incomplete multipart upload, which is never visible as an object
    // (a bucket lifecycle rule for incomplete uploads cleans them).
    const Upload = await loadUpload();
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.k(key), Body: body, ...this.uploadParams },
      partSize: 8 * 1024 * 1024,
      queueSize: 2,
      leavePartsOnError: false,
    });
    try {
      await upload.done();
    } catch (err) {
      if (err instanceof PitrError) throw err;
      return this.fail(err, 'write', key);
    }
  }

  async getStream(key: string): Promise<Readable | null> {
    try {
      return ((await this.getObject(key))?.Body as Readable | undefined) ?? null;
    } catch (err) {
      if (err instanceof PitrError) throw err;
      return this.fail(err, 'read', key);
    }
  }

  /** The object's response, or null when it does not exist; a missing bucket is an error. */
  private async getObject(key: string, range?: string): Promise<GetObjectCommandOutput | null> {
    try {
      return await this.client.send(new GetObjectCommand({ Bucket: this.bucket, Key: this.k(key), Range: range }));
    } catch (err) {
      const e = err as SdkError;
      if (e.name === 'NoSuchBucket') return this.fail(err, 'read', key);
      if (e.name === 'NoSuchKey' || e.name === 'NotFound' || e.$metadata?.httpStatusCode === 404) return null;
      throw err;
    }
  }

  /**
   * Page after page. (Listing the folders under `prefix` side by side was slower on s3rver:
   * 13.8 s for 100,000 WAL objects against 9.9 s, each of its listings costing as much as the tree.)
   */
  async list(prefix: string, options: { delimiter?: '/' } = {}): Promise<Listing> {
    const out: Listing = { objects: [], prefixes: [] };
    let token: string | undefined;
    do {
      let page: ListObjectsV2CommandOutput;
      try {
        page = await this.client.send(
          new ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.k(prefix),
            Delimiter: options.delimiter,
            ContinuationToken: token,
          }),
        );
      } catch (err) {
        return this.fail(err, 'list', prefix);
      }
      for (const o of page.Contents ?? []) {
        if (!o.Key) continue;
        out.objects.push({ key: o.Key.slice(this.base.length), size: o.Size ?? 0, modified: o.LastModified ?? new Date(0) });
      }
      for (const p of page.CommonPrefixes ?? []) if (p.Prefix) out.prefixes.push(p.Prefix.slice(this.base.length));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return out;
  }

  async delete(key: string): Promise<void> {
    try {
      await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
    } catch (err) {
      return this.fail(err, 'delete', key);
    }
  }

  /** DeleteObjects, 1000 keys a request (S3's limit), one request after another. */
  async deleteMany(keys: readonly string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += DELETE_BATCH) {
      const batch = keys.slice(i, i + DELETE_BATCH);
      let failed: { Key?: string; Code?: string; Message?: string }[];
      try {
        const out = await this.client.send(
          new DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((key) => ({ Key: this.k(key) })), Quiet: true },
          }),
        );
        failed = out.Errors ?? [];
      } catch (err) {
        return this.fail(err, 'delete', `${batch[0]} and ${batch.length - 1} more`);
      }
      const first = failed[0];
      if (first) {
        throw new StorageError(
          `cannot delete ${failed.length} object(s) of ${this.url}, ${first.Key ?? '?'} among them: ${first.Code ?? '?'}: ${first.Message ?? ''}`,
        );
      }
    }
  }

  private fail(err: unknown, action: string, key: string): never {
    const e = err as SdkError;
    const where = `${this.url}${key}`;
    const status = e.$metadata?.httpStatusCode;
    if (e.name === 'NoSuchBucket') {
      throw new StorageError(`bucket ${this.bucket} does not exist: create it or fix PITR_REPO`, err);
    }
    if (e.name === 'CredentialsProviderError') {
      throw new ConfigError(
        'no AWS credentials found: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE) in the environment or config file',
      );
    }
    if (['AccessDenied', 'InvalidAccessKeyId', 'SignatureDoesNotMatch', 'Forbidden'].includes(e.name) || status === 403) {
      throw new StorageError(`access denied to ${action} ${where} (${e.name}): check the credentials and the bucket policy`, err);
    }
    if (isUnreachable(e)) {
      throw new StorageUnavailableError(
        `cannot reach ${this.url} to ${action} ${key} (${e.code ?? e.name}) after ${this.attempts} attempt(s): check PITR_S3_ENDPOINT and the network`,
        err,
      );
    }
    throw new StorageError(`cannot ${action} ${where}: ${e.name}${status ? ` (HTTP ${status})` : ''}: ${e.message}`, err);
  }
}

interface SdkError extends Error {
  code?: string;
  $metadata?: { httpStatusCode?: number };
}

function isUnreachable(e: SdkError): boolean {
  const status = e.$metadata?.httpStatusCode;
  if (status !== undefined && status >= 500) return true;
  const code = e.code ?? '';
  return (
    ['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EAI_AGAIN', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EPIPE'].includes(code) ||
    ['TimeoutError', 'RequestTimeout', 'RequestTimeoutException', 'NetworkingError'].includes(e.name)
  );
}

/**
 * lib-storage, loaded only when a streamed upload runs (wal-push never needs it). The bundle
 * resolves it to its CommonJS build, and a dynamic import of CommonJS puts the exports under
 * `default`; accept both shapes so neither the bundle nor the test runner breaks.
 */
async function loadUpload(): Promise<typeof import('@aws-sdk/lib-storage').Upload> {
  const mod = (await import('@aws-sdk/lib-storage')) as typeof import('@aws-sdk/lib-storage') & {
    default?: typeof import('@aws-sdk/lib-storage');
  };
  const Upload = mod.Upload ?? mod.default?.Upload;
  if (!Upload) throw new Error('@aws-sdk/lib-storage has no Upload export: reinstall dependencies (npm ci)');
  return Upload;
}
