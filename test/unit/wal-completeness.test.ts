// Which stored WAL objects are whole, against a real file:// store: objects cut off at any
// point, one under another object's name, one gone; a listed size too small for any whole
// object decides without a read; never more than HEAD_READS_AT_ONCE reads in flight.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { encodeObject, MIN_OBJECT_BYTES, sha256, type ObjectMeta } from '../../src/codec/object-format.js';
import { findUnusableWal, findUnusableWalUntil, HEAD_READS_AT_ONCE } from '../../src/repository/wal-completeness.js';
import { FileStorage } from '../../src/storage/file.js';
import type { Storage } from '../../src/storage/storage.js';

const key = (name: string) => (name.endsWith('.history') ? `wal/${name}` : `wal/${name.slice(0, 16)}/${name}`);
const seg = (n: number) => `0000000100000000${n.toString(16).toUpperCase().padStart(8, '0')}`;

function object(name: string, payload = Buffer.alloc(5000, 3), extra: Partial<ObjectMeta> = {}): Buffer {
  return encodeObject(
    {
      v: 1,
      name,
      size: payload.length,
      compression: 'none',
      payloadSize: payload.length,
      payloadSha256: sha256(payload),
      sha256: sha256(payload),
      ...extra,
    },
    payload,
  );
}

describe('completeness of stored WAL objects', () => {
  let root: string;
  let storage: FileStorage;
  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), 'pitr-completeness-'));
    storage = await FileStorage.open(root, false);
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('tells whole objects from cut-off, misnamed and vanished ones', async () => {
    const whole = object(seg(1));
    await storage.put(key(seg(1)), whole);
    await storage.put(key(seg(2)), object(seg(2)).subarray(0, 3000)); // cut off in the payload
    await storage.put(key(seg(3)), object(seg(3)).subarray(0, 20)); // cut off in the header
    await storage.put(key(seg(4)), object(seg(5))); // another segment's object
    await storage.put(key('00000002.history'), object('00000002.history', Buffer.from('1\t0/3000000\tx\n')));
    const problems = await findUnusableWal(storage, [seg(1), seg(2), seg(3), seg(4), seg(6), '00000002.history']);
    expect(problems.get(seg(2))).toEqual({ state: 'incomplete', stored: 3000, expected: whole.length });
    expect(problems.get(seg(3))).toEqual({ state: 'incomplete', stored: 20, expected: undefined });
    expect(problems.get(seg(4))).toMatchObject({ state: 'damaged', message: expect.stringContaining(`holds ${seg(5)}`) });
    expect(problems.get(seg(6))).toEqual({ state: 'missing' });
    expect([...problems.keys()].sort()).toEqual([seg(2), seg(3), seg(4), seg(6)]);
  });

  it('takes a listed size below the smallest whole object as cut off, without reading it', async () => {
    // The smallest whole object there is: an empty history file stored as it is.
    expect(object('00000003.history', Buffer.alloc(0)).length).toBeGreaterThanOrEqual(MIN_OBJECT_BYTES);
    const reads: string[] = [];
    const counting: Storage = Object.assign(Object.create(storage) as Storage, {
      getHead: (k: string, n: number) => (reads.push(k), storage.getHead(k, n)),
    });
    const listed = [
      { key: key(seg(7)), size: MIN_OBJECT_BYTES - 1, modified: new Date() },
      { key: key(seg(1)), size: object(seg(1)).length, modified: new Date() },
    ];
    const problems = await findUnusableWal(counting, listed);
    expect(problems.get(seg(7))).toEqual({ state: 'incomplete', stored: MIN_OBJECT_BYTES - 1 });
    expect(reads).toEqual([key(seg(1))]);
    expect(await findUnusableWal(counting, listed, { readHeads: false })).toEqual(
      new Map([[seg(7), { state: 'incomplete', stored: MIN_OBJECT_BYTES - 1 }]]),
    );
    expect(reads).toHaveLength(1);
  });

  it(`reads at most ${HEAD_READS_AT_ONCE} heads at once`, async () => {
    const names = Array.from({ length: 100 }, (_, i) => seg(0x100 + i));
    for (const name of names) await storage.put(key(name), object(name));
    let inFlight = 0;
    let most = 0;
    const slow: Storage = Object.assign(Object.create(storage) as Storage, {
      getHead: async (k: string, n: number) => {
        most = Math.max(most, ++inFlight);
        await new Promise((r) => setImmediate(r));
        inFlight--;
        return storage.getHead(k, n);
      },
    });
    expect((await findUnusableWal(slow, names)).size).toBe(0);
    expect(most).toBe(HEAD_READS_AT_ONCE);
  });

  it('stops reading at the first whole object a time target stops in, and names no problem past it', async () => {
    const end = (time: string) => ({ transactionEnds: { first: { time, lsn: '0/1' }, last: { time, lsn: '0/2' } } });
    for (let n = 40; n < 80; n++)
      await storage.put(key(seg(n)), object(seg(n), undefined, end(`2026-12-05T00:00:${String(n - 40).padStart(2, '0')}.000000Z`)));
    await storage.put(key(seg(70)), object(seg(70)).subarray(0, 3000)); // cut off, past the stop
    const names = Array.from({ length: 40 }, (_, i) => seg(40 + i));
    const after = (meta: ObjectMeta) => (meta.transactionEnds?.last?.time ?? '') > '2026-12-05T00:00:05.5Z';
    const found = await findUnusableWalUntil(storage, names, after);
    expect(found).toEqual({ problems: new Map(), stoppedAt: seg(46) });
    // Without the stop every name is read, and the cut-off one is named.
    expect((await findUnusableWalUntil(storage, names, () => false)).problems.get(seg(70))).toMatchObject({ state: 'incomplete' });
    // A problem before the stop is named.
    await storage.put(key(seg(42)), object(seg(43)), { noOverwrite: false });
    expect((await findUnusableWalUntil(storage, names, after)).problems.get(seg(42))).toMatchObject({ state: 'damaged' });
  });
});
