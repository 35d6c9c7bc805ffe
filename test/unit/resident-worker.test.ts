// The loop both resident workers run: bin/pitr can block on the wake pipe from the first
// moment the worker holds its place, even where the pipe's directory did not exist yet.
import { mkdtempSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runResident } from '../../src/archive/resident-worker.js';

describe('resident worker loop', () => {
  it('opens its wake pipe before the worker starts, creating the directory it lives in', async () => {
    const dir = mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-resident-'));
    const wakePipe = join(dir, 'archived', '.wake');
    let fifoAtStart = false;
    const ran = await runResident(
      { command: 'test', pidFile: join(dir, 'worker.pid'), fingerprint: 'f', dataDir: dir, watchDir: dir, wakePipe, idleMs: 0 },
      {
        start: async () => {
          fifoAtStart = statSync(wakePipe).isFIFO();
          return false; // nothing to do
        },
        turn: async () => 'stop',
      },
    );
    expect(ran).toBe(true);
    expect(fifoAtStart).toBe(true);
  });

  it('throws the first failure of the work in flight, after the rest has ended', async () => {
    const dir = mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-resident-'));
    let turns = 0;
    const run = runResident(
      {
        command: 'test',
        pidFile: join(dir, 'worker.pid'),
        fingerprint: 'f',
        dataDir: dir,
        watchDir: dir,
        wakePipe: join(dir, '.wake'),
        idleMs: 60_000,
      },
      {
        turn: async (r) => {
          turns++;
          if (turns === 1) {
            r.track('a', Promise.reject(new Error('store down')));
            r.track('b', Promise.reject(new Error('second failure')));
          }
          return 'busy';
        },
      },
    );
    await expect(run).rejects.toThrow('store down');
  });
});
