// Buffers a long-lived worker reads or decodes whole WAL files into, kept from one file to
// the next. A new 16 MiB buffer per segment costs ~4,000 page faults, zeroing of fresh pages
// (slow here: this machine hands freed memory back to its host), and, once V8 counts the
// external memory, a major GC every few segments, on helper threads beside the database.
// Measured in the archiver under a bulk load to S3: V8's marking was a quarter of its CPU.

export class BufferPool {
  private readonly free: Buffer[] = [];

  /** `keep`: how many buffers to hold between uses (the most used at once). */
  constructor(private readonly keep: number) {}

  /** A buffer of exactly `size` bytes, contents undefined; hand it back with give(). */
  take(size: number): Buffer {
    // The smallest that fits: a caller taking two sizes (a segment, and its compressed copy
    // with room for a header) must not have the larger ones taken for the smaller use.
    let i = -1;
    this.free.forEach((b, j) => {
      if (b.length >= size && (i < 0 || b.length < this.free[i]!.length)) i = j;
    });
    const whole = i >= 0 ? this.free.splice(i, 1)[0]! : Buffer.allocUnsafeSlow(size);
    return whole.subarray(0, size);
  }

  /** Returns a buffer from take(); the caller must not use it afterwards. */
  give(buf: Buffer): void {
    if (this.free.length >= this.keep) return;
    this.free.push(Buffer.from(buf.buffer, 0, buf.buffer.byteLength));
  }
}
