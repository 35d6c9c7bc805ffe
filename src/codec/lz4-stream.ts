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
import { compressFrameSync, decompressFrameSync } from 'lz4-napi';
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

export class Lz4ChunkCompressor extends Transform {
  private pending: Buffer[] = [];
  private pendingBytes = 0;

  constructor(private readonly chunkBytes = DEFAULT_CHUNK_BYTES) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.pending.push(chunk);
    this.pendingBytes += chunk.length;
    while (this.pendingBytes >= this.chunkBytes) {
      const all = Buffer.concat(this.pending);
      this.emitFrame(all.subarray(0, this.chunkBytes));
      const rest = all.subarray(this.chunkBytes);
      this.pending = rest.length ? [rest] : [];
      this.pendingBytes = rest.length;
    }
    done();
  }

  override _flush(done: TransformCallback): void {
    if (this.pendingBytes > 0) this.emitFrame(Buffer.concat(this.pending));
    done();
  }

  private emitFrame(data: Buffer): void {
    const frame = compressFrameSync(data);
    this.push(marker(frame.length));
    this.push(frame);
  }
}

export class Lz4ChunkDecompressor extends Transform {
  private buffered: Buffer = Buffer.alloc(0);

  constructor(private readonly what: string) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.buffered = this.buffered.length ? Buffer.concat([this.buffered, chunk]) : chunk;
    try {
      while (this.buffered.length >= MARKER_BYTES) {
        if (this.buffered.readUInt32LE(0) !== MARKER_MAGIC || this.buffered.readUInt32LE(4) !== 4) {
          throw new IntegrityError(`${this.what} is corrupted: expected a frame marker`);
        }
        const length = this.buffered.readUInt32LE(8);
        if (this.buffered.length < MARKER_BYTES + length) break;
        const frame = this.buffered.subarray(MARKER_BYTES, MARKER_BYTES + length);
        try {
          this.push(decompressFrameSync(frame));
        } catch (err) {
          throw new IntegrityError(`${this.what} is corrupted: lz4 frame does not decode (${(err as Error).message})`);
        }
        this.buffered = this.buffered.subarray(MARKER_BYTES + length);
      }
      done();
    } catch (err) {
      done(err as Error);
    }
  }

  override _flush(done: TransformCallback): void {
    done(this.buffered.length ? new IntegrityError(`${this.what} is truncated: ${this.buffered.length} bytes after the last frame`) : null);
  }
}
