// pitr verify's worker and chain rules over an in-memory store: each object's checks (stored
// checksum, cut-off, older objects with only the original's checksum), and the WAL chains
// along a timeline switch, with WAL thinned by retention told apart from a gap.
import { Readable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { compress } from '../../src/codec/compression.js';
import { encodeObject, sha256, type ObjectMeta } from '../../src/codec/object-format.js';
import { writeManifest, type BackupManifest } from '../../src/repository/backups.js';
import { walObjectKey } from '../../src/repository/layout.js';
import { readLastVerifyRun } from '../../src/repository/verify-results.js';
import type { Listing, Storage } from '../../src/storage/storage.js';
import { parseWalFileName } from '../../src/wal/names.js';
import { checkWalObject } from '../../src/verify/object-check.js';
import { verifyRepository } from '../../src/verify/run.js';
import pino from 'pino';

class MemoryStorage implements Storage {
  readonly url = 'mem://repo/';
  readonly objects = new Map<string, Buffer>();
  async get(key: string) {
    return this.objects.get(key) ?? null;
  }
  async getHead(key: string, length: number) {
    const o = this.objects.get(key);
    return o ? { bytes: o.subarray(0, length), size: o.length } : null;
  }
  async put(key: string, body: Buffer) {
    this.objects.set(key, Buffer.from(body));
  }
  async putStream(): Promise<void> {
    throw new Error('not used');
  }
  async getStream(key: string) {
    const o = this.objects.get(key);
    if (!o) return null;
    const chunks: Buffer[] = [];
    for (let i = 0; i < o.length; i += 1000) chunks.push(o.subarray(i, i + 1000)); // headers span chunks
    return Readable.from(chunks);
  }
  async list(prefix: string, options: { delimiter?: '/' } = {}): Promise<Listing> {
    const out: Listing = { objects: [], prefixes: [] };
    for (const [key, body] of [...this.objects].sort(([a], [b]) => (a < b ? -1 : 1))) {
      if (!key.startsWith(prefix)) continue;
      const rest = key.slice(prefix.length);
      if (options.delimiter && rest.includes('/')) {
        const p = `${prefix}${rest.slice(0, rest.indexOf('/') + 1)}`;
        if (!out.prefixes.includes(p)) out.prefixes.push(p);
      } else out.objects.push({ key, size: body.length, modified: new Date() });
    }
    return out;
  }
  async delete(key: string) {
    this.objects.delete(key);
  }
  async deleteMany(keys: string[]) {
    for (const key of keys) this.objects.delete(key);
  }
}

const log = pino({ level: 'silent' });
const keyOf = (name: string) => walObjectKey(parseWalFileName(name)!);

async function storeWal(s: MemoryStorage, name: string, data = Buffer.from(`contents of ${name} `.repeat(300)), older = false) {
  const payload = (await compress('lz4', data)).bytes;
  const meta: ObjectMeta = older
    ? { v: 1, name, size: data.length, sha256: sha256(data), compression: 'lz4', payloadSize: payload.length }
    : { v: 1, name, size: data.length, compression: 'lz4', payloadSize: payload.length, payloadSha256: sha256(payload) };
  await s.put(keyOf(name), encodeObject(meta, payload));
}

const seg = (tli: number, segno: number) =>
  `${tli.toString(16).padStart(8, '0').toUpperCase()}00000000${segno.toString(16).padStart(8, '0').toUpperCase()}`;
const lsnOf = (segno: number, offset = 0x28) => `0/${(segno * 0x1000000 + offset).toString(16).toUpperCase()}`;

async function storeBackup(s: MemoryStorage, id: string, timeline: number, startSeg: number, stopSeg: number): Promise<BackupManifest> {
  const body = Buffer.from(`backup ${id}`.repeat(1000));
  const key = `backups/${id}/base.tar.lz4`;
  await s.put(key, body);
  const m: BackupManifest = {
    format: 1,
    id,
    label: `pitr ${id}`,
    pitrVersion: '0.1.0',
    systemIdentifier: '7000000000000000001',
    pgVersion: 15,
    timeline,
    startLsn: lsnOf(startSeg),
    stopLsn: lsnOf(stopSeg, 0x100),
    startWal: seg(timeline, startSeg),
    stopWal: seg(timeline, stopSeg),
    startTime: '2026-12-01T00:00:00.000Z',
    stopTime: '2026-12-01T00:01:00.000Z',
    durationMs: 60000,
    files: [{ key, name: 'base.tar', compression: 'lz4', size: body.length * 3, storedSize: body.length, storedSha256: sha256(body) }],
  };
  await writeManifest(s, m);
  return m;
}

describe('checkWalObject', () => {
  const name = seg(1, 3);
  const check = (s: MemoryStorage) => checkWalObject(s, keyOf(name), name, () => {});
  const alter = (s: MemoryStorage, f: (b: Buffer) => Buffer) => s.objects.set(keyOf(name), f(Buffer.from(s.objects.get(keyOf(name))!)));

  for (const older of [false, true]) {
    const kind = older ? 'an older object (only the original SHA-256)' : 'an object with payloadSha256';
    it(`passes ${kind}, and names a flipped byte, a cut-off and a longer object`, async () => {
      const s = new MemoryStorage();
      await storeWal(s, name, undefined, older);
      expect(await check(s)).toBeNull();
      const good = s.objects.get(keyOf(name))!;

      alter(s, (b) => ((b[b.length - 5]! ^= 0x10), b));
      expect(await check(s)).toMatchObject({ state: 'damaged', key: keyOf(name) });
      s.objects.set(keyOf(name), good.subarray(0, good.length - 10));
      expect(await check(s)).toMatchObject({ state: 'incomplete', message: expect.stringMatching(/cut off: \d+ of \d+ bytes/) });
      s.objects.set(keyOf(name), good.subarray(0, 20)); // inside its header
      expect(await check(s)).toMatchObject({ state: 'incomplete' });
      s.objects.set(keyOf(name), Buffer.concat([good, Buffer.from('x')]));
      expect(await check(s)).toMatchObject({ state: 'damaged' });
      s.objects.set(keyOf(name), Buffer.from('not a pitr object at all'));
      expect(await check(s)).toMatchObject({ state: 'damaged', message: expect.stringContaining('magic') });
    });
  }

  it('names an object that holds another file', async () => {
    const s = new MemoryStorage();
    await storeWal(s, seg(1, 4));
    s.objects.set(keyOf(name), s.objects.get(keyOf(seg(1, 4)))!);
    expect(await check(s)).toMatchObject({ state: 'damaged', message: expect.stringContaining(`holds ${seg(1, 4)}`) });
  });
});

const IDENTITY = {
  format: 1,
  id: 'repo-0001',
  systemIdentifier: '7000000000000000001',
  pgVersion: 15,
  walSegmentSize: 16 * 1024 * 1024,
  createdAt: '2026-12-01T00:00:00.000Z',
  createdBy: 'test',
};

describe('verifyRepository: the WAL chains', () => {
  it('refuses a store no cluster is bound to, writing nothing there (it may be a mount point)', async () => {
    const s = new MemoryStorage();
    await expect(verifyRepository({ storage: s, log })).rejects.toMatchObject({ exitCode: 1 });
    expect(s.objects.size).toBe(0);
  });

  /** Timeline 1 segments 1-5, timeline 2 branching at segment 4 (its segments 4-6), a backup on timeline 1 over segments 1-2. */
  async function forked(): Promise<MemoryStorage> {
    const s = new MemoryStorage();
    await s.put('repository.json', Buffer.from(JSON.stringify(IDENTITY)));
    for (let n = 1; n <= 5; n++) await storeWal(s, seg(1, n));
    for (let n = 4; n <= 6; n++) await storeWal(s, seg(2, n));
    await storeWal(s, '00000002.history', Buffer.from(`1\t${lsnOf(4, 0x100)}\tno recovery target specified\n`));
    await storeBackup(s, 'B1', 1, 1, 2);
    return s;
  }

  it('passes a repository whose chain follows the timeline switch, and records it', async () => {
    const s = await forked();
    const r = await verifyRepository({ storage: s, log });
    expect(r).toMatchObject({ result: 'passed', problems: [], thinned: [], backups: [{ id: 'B1', result: 'passed' }] });
    expect(r.objects.checked).toBe(1 + 5 + 3 + 1); // the backup, the segments, the history file
    expect(await readLastVerifyRun(s)).toMatchObject({ result: 'passed', scope: 'all' });
  });

  it('names a gap on the followed timeline, not on the abandoned one', async () => {
    const s = await forked();
    s.objects.delete(keyOf(seg(1, 5))); // timeline 1 after the switch: replay never reads it
    expect((await verifyRepository({ storage: s, log })).result).toBe('passed');
    s.objects.delete(keyOf(seg(2, 5)));
    const r = await verifyRepository({ storage: s, log });
    expect(r.problems).toEqual([expect.objectContaining({ kind: 'gap', from: seg(2, 5), to: seg(2, 5), segments: 1, backups: [] })]);
    expect(r.backups[0]).toMatchObject({ result: 'passed' }); // its own WAL (1-2) is whole
  });

  it("names a gap in a backup's own WAL against that backup", async () => {
    const s = await forked();
    s.objects.delete(keyOf(seg(1, 2)));
    const r = await verifyRepository({ storage: s, log });
    expect(r.problems).toEqual([expect.objectContaining({ kind: 'gap', from: seg(1, 2), backups: ['B1'] })]);
    expect(r.backups[0]).toMatchObject({ result: 'failed', problems: 1 });
  });

  it('tells WAL thinned between two backups from a gap', async () => {
    const s = await forked();
    await storeBackup(s, 'B2', 2, 5, 6);
    s.objects.delete(keyOf(seg(1, 3)));
    s.objects.delete(keyOf(seg(2, 4)));
    const r = await verifyRepository({ storage: s, log });
    expect(r).toMatchObject({ result: 'passed', thinned: [{ from: seg(1, 3), to: seg(2, 4), segments: 2 }] });
    s.objects.delete(keyOf(seg(2, 6))); // B2's own WAL: a gap whatever retention did
    expect((await verifyRepository({ storage: s, log })).problems).toEqual([
      expect.objectContaining({ kind: 'gap', from: seg(2, 6), backups: ['B2'] }),
    ]);
  });

  it('walks the listing, not every segment number: a segment far ahead is one gap, found at once', async () => {
    const s = await forked();
    const far = '000000020000FFFF000000FF';
    await storeWal(s, far);
    const r = await verifyRepository({ storage: s, log });
    expect(r.problems).toEqual([
      expect.objectContaining({ kind: 'gap', from: seg(2, 7), to: '000000020000FFFF000000FE', segments: 0xffff * 256 + 0xff - 7 }),
    ]);
  });

  it('--backup reads that backup and its WAL only', async () => {
    const s = await forked();
    s.objects.set(keyOf(seg(2, 6)), Buffer.from('garbage'));
    const r = await verifyRepository({ storage: s, log, backupId: 'B1' });
    expect(r).toMatchObject({ scope: 'backup B1', result: 'passed' });
    expect(r.objects.checked).toBe(1 + 2 + 1); // the backup, segments 1-2, the history file
    await expect(verifyRepository({ storage: s, log, backupId: 'nope' })).rejects.toMatchObject({ exitCode: 1 });
  });
});
