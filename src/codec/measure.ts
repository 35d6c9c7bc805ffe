// A pass-through that counts bytes and hashes them on the way: how every streamed object
// gets its size and SHA-256 without a second read.
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

export class Measure extends Transform {
  bytes = 0;
  private readonly hash = createHash('sha256');

  constructor(private readonly onProgress?: (bytes: number) => void) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    this.hash.update(chunk);
    this.onProgress?.(this.bytes);
    done(null, chunk);
  }

  /** Valid once the stream has finished. */
  digest(): string {
    return this.hash.copy().digest('hex');
  }
}
