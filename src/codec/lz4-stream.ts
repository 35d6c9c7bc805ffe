// Streaming LZ4 for backups. lz4-napi compresses whole buffers only, so the stream is cut
// into chunks, each compressed into one standard LZ4 frame and preceded by a skippable frame
// holding that frame's length:
//
//   [skippable 0x184D2A5F | len 4 | u32le N] [LZ4 frame of N bytes] [skippable ...] [frame] ...
//
// The result is a valid LZ4 stream: `lz4 -d` skips the length markers and decodes the
// concatenated frames. pitr's reader uses the markers to split frames without parsing LZ4
// internals. Memory stays bounded by the chunk size whatever the database size.
import { Transform, type TransformCallback } from 'node:stream';
import { compressFrame, decompressFrame } from 'lz4-napi';
import { IntegrityError } from '../errors.js';

const MARKER_MAGIC = 0x184d2a5f;
const MARKER_BYTES = 12;
export const DEFAULT_CHUNK_BYTES = 4 * 1024 * 1024;

function marker(length: number): Buffer {
  const b = Buffer.alloc(MARKER_BYTES);
  b.writeUInt32LE(MARKER_MAGIC, 0);
  b.writeUInt32LE(4, 4);
  b.writeUInt32LE(length, 8);
  return b;
}

/** Frames in flight on libuv's thread pool: compression overlaps hashing, I/O and the next frame. */
export const DEFAULT_CONCURRENCY = 2;

/**
 * Runs async jobs in order with at most `limit` in flight and hands their results to `emit`
 * in submission order: frame N+1 compresses while frame N is written.
 */
class OrderedWindow {
  private inflight: Promise<Buffer>[] = [];

  constructor(
    private readonly limit: number,
    private readonly emit: (out: Buffer) => void,
  ) {}

  async submit(job: Promise<Buffer>): Promise<void> {
    job.catch(() => undefined); // awaited below, in order; never an unhandled rejection meanwhile
    this.inflight.push(job);
    while (this.inflight.length >= this.limit) this.emit(await this.inflight.shift()!);
  }

  async drain(): Promise<void> {
    while (this.inflight.length > 0) this.emit(await this.inflight.shift()!);
  }
}

export class Lz4ChunkCompressor extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly window: OrderedWindow;

  constructor(
    private readonly chunkBytes = DEFAULT_CHUNK_BYTES,
    concurrency = DEFAULT_CONCURRENCY,
  ) {
    super();
    this.window = new OrderedWindow(concurrency, (frame) => {
      this.push(marker(frame.length));
      this.push(frame);
    });
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    this.compressFull().then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    const rest = this.pendingBytes > 0 ? Buffer.concat(this.pending) : null;
    this.pending = [];
    this.pendingBytes = 0;
    (rest ? this.window.submit(compressFrame(rest)) : Promise.resolve()).then(() => this.window.drain()).then(() => done(), done);
  }

  private async compressFull(): Promise<void> {
    while (this.pendingBytes >= this.chunkBytes) {
      const all = Buffer.concat(this.pending, this.pendingBytes);
      const rest = all.subarray(this.chunkBytes);
      this.pending = rest.length ? [rest] : [];
      this.pendingBytes = rest.length;
      await this.window.submit(compressFrame(all.subarray(0, this.chunkBytes)));
    }
  }
}

export class Lz4ChunkDecompressor extends Transform {
  // Incoming chunks are kept as a list and joined once per frame: joining on every chunk
  // would copy a 4 MiB frame dozens of times.
  private chunks: Buffer[] = [];
  private bytes = 0;
  private readonly window: OrderedWindow;

  constructor(
    private readonly what: string,
    concurrency = DEFAULT_CONCURRENCY,
  ) {
    super();
    this.window = new OrderedWindow(concurrency, (data) => this.push(data));
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.chunks.push(chunk);
    this.bytes += chunk.length;
    this.decodeReady().then(() => done(), done);
  }

  override _flush(done: TransformCallback): void {
    this.window.drain().then(() => {
      done(this.bytes ? new IntegrityError(`${this.what} is truncated: ${this.bytes} bytes after the last frame`) : null);
    }, done);
  }

  private async decodeReady(): Promise<void> {
    for (let frame = this.takeFrame(); frame; frame = this.takeFrame()) {
      const what = this.what;
      await this.window.submit(
        decompressFrame(frame).catch((err: Error) => {
          throw new IntegrityError(`${what} is corrupted: lz4 frame does not decode (${err.message})`);
        }),
      );
    }
  }

  /** The next whole frame (without its marker), or null until enough bytes have arrived. */
  private takeFrame(): Buffer | null {
    if (this.bytes < MARKER_BYTES) return null;
    if (this.chunks[0]!.length < MARKER_BYTES) this.chunks = [Buffer.concat(this.chunks, this.bytes)];
    const head = this.chunks[0]!;
    if (head.readUInt32LE(0) !== MARKER_MAGIC || head.readUInt32LE(4) !== 4) {
      throw new IntegrityError(`${this.what} is corrupted: expected a frame marker`);
    }
    const length = head.readUInt32LE(8);
    if (this.bytes < MARKER_BYTES + length) return null;
    const all = this.chunks.length === 1 ? head : Buffer.concat(this.chunks, this.bytes);
    const rest = all.subarray(MARKER_BYTES + length);
    this.chunks = rest.length ? [rest] : [];
    this.bytes = rest.length;
    return all.subarray(MARKER_BYTES, MARKER_BYTES + length);
  }
}
