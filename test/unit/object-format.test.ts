import { describe, expect, it } from 'vitest';
import { decodeHeader, encodeObject, inspectStoredObject, sha256, type ObjectMeta } from '../../src/codec/object-format.js';
import { compress, decompress } from '../../src/codec/compression.js';
import { IntegrityError } from '../../src/errors.js';

const data = Buffer.from('WAL bytes '.repeat(1000));

async function object(): Promise<{ bytes: Buffer; meta: ObjectMeta }> {
  const payload = (await compress('lz4', data)).bytes;
  const meta: ObjectMeta = {
    v: 1,
    name: '000000010000000000000001',
    size: data.length,
    sha256: sha256(data),
    compression: 'lz4',
    payloadSize: payload.length,
  };
  return { bytes: encodeObject(meta, payload), meta };
}

describe('object envelope', () => {
  it('round-trips metadata and payload', async () => {
    const { bytes, meta } = await object();
    const { meta: read, headerLength } = decodeHeader(bytes, 'x');
    expect(read).toEqual(meta);
    expect(decompress(read.compression, bytes.subarray(headerLength), read.size, 'x')).toEqual(data);
  });

  it('tells a complete object from a cut-off write at any cut point', async () => {
    const { bytes } = await object();
    expect(inspectStoredObject({ bytes, size: bytes.length }, 'x').state).toBe('complete');
    for (const cut of [0, 1, 3, 7, 8, 20, 150, bytes.length - 1]) {
      const head = bytes.subarray(0, Math.min(cut, 4096));
      expect(inspectStoredObject({ bytes: head, size: cut }, 'x').state).toBe('incomplete');
    }
  });

  it('refuses objects pitr did not write, and objects longer than their header says', async () => {
    const { bytes } = await object();
    expect(() => inspectStoredObject({ bytes: Buffer.from('hello world'), size: 11 }, 'x')).toThrow(IntegrityError);
    expect(() => inspectStoredObject({ bytes, size: bytes.length + 1 }, 'x')).toThrow(/expected/);
  });

  it('reports corrupted lz4 payloads as integrity errors', () => {
    expect(() => decompress('lz4', Buffer.from('not lz4 at all'), 14, 'x')).toThrow(IntegrityError);
    expect(() => decompress('zstd', Buffer.alloc(1), 1, 'x')).toThrow(/unknown compression/);
  });
});
