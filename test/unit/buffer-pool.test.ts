import { describe, expect, it } from 'vitest';
import { BufferPool } from '../../src/os/buffer-pool.js';

describe('BufferPool', () => {
  it('hands a given-back buffer out again, at the size asked for', () => {
    const pool = new BufferPool(1);
    const a = pool.take(1000);
    expect(a.length).toBe(1000);
    pool.give(a);
    const b = pool.take(600);
    expect(b.length).toBe(600);
    expect(b.buffer).toBe(a.buffer); // the same memory: no new allocation
  });

  it('never hands one buffer to two takers, and keeps at most `keep`', () => {
    const pool = new BufferPool(2);
    const [a, b, c] = [pool.take(10), pool.take(10), pool.take(10)];
    expect(new Set([a.buffer, b.buffer, c.buffer]).size).toBe(3);
    pool.give(a);
    pool.give(b);
    pool.give(c); // over `keep`: dropped
    const again = [pool.take(10), pool.take(10), pool.take(10)].map((x) => x.buffer);
    expect(again.filter((x) => x === a.buffer || x === b.buffer)).toHaveLength(2);
    expect(again).not.toContain(c.buffer);
  });

  it('allocates anew when every kept buffer is too small', () => {
    const pool = new BufferPool(1);
    const small = pool.take(10);
    pool.give(small);
    expect(pool.take(20).buffer).not.toBe(small.buffer);
  });

  it('hands out the smallest kept buffer that fits, keeping larger ones for larger needs', () => {
    const pool = new BufferPool(2);
    const large = pool.take(20);
    const small = pool.take(10);
    pool.give(large);
    pool.give(small);
    expect(pool.take(10).buffer).toBe(small.buffer);
    expect(pool.take(20).buffer).toBe(large.buffer);
  });
});
