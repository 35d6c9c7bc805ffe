// pg_basebackup writes backup_label as the first member of base.tar. This pass-through
// reads it from the passing stream (one 512-byte tar header, then the text) so the backup
// learns its start LSN and timeline without a second connection or a temporary file.
import { Transform, type TransformCallback } from 'node:stream';
import { IntegrityError } from '../errors.js';

const BLOCK = 512;

export class BackupLabelTap extends Transform {
  private head: Buffer[] = [];
  private headBytes = 0;
  private done = false;
  private resolveLabel!: (text: string) => void;
  private rejectLabel!: (err: Error) => void;
  readonly label = new Promise<string>((resolve, reject) => {
    this.resolveLabel = resolve;
    this.rejectLabel = reject;
  });

  constructor() {
    super();
    this.label.catch(() => undefined); // observed by the caller; never an unhandled rejection
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, callback: TransformCallback): void {
    if (!this.done) {
      this.head.push(chunk);
      this.headBytes += chunk.length;
      this.tryParse(false);
    }
    callback(null, chunk);
  }

  override _flush(callback: TransformCallback): void {
    this.tryParse(true);
    callback();
  }

  private tryParse(atEnd: boolean): void {
    if (this.done || (this.headBytes < BLOCK && !atEnd)) return;
    const buf = Buffer.concat(this.head);
    const name = buf.subarray(0, 100).toString('latin1').replace(/\0.*$/s, '');
    const size = parseInt(buf.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim(), 8);
    if (buf.length < BLOCK || name !== 'backup_label' || !Number.isFinite(size)) {
      this.finish(new IntegrityError(`pg_basebackup output does not start with backup_label (found "${name}"): not a base backup tar`));
      return;
    }
    if (buf.length < BLOCK + size) {
      if (atEnd) this.finish(new IntegrityError('pg_basebackup output ended inside backup_label'));
      return;
    }
    this.finish(buf.subarray(BLOCK, BLOCK + size).toString('utf8'));
  }

  private finish(result: string | Error): void {
    this.done = true;
    this.head = [];
    if (typeof result === 'string') this.resolveLabel(result);
    else this.rejectLabel(result);
  }
}
