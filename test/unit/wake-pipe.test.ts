// bin/pitr waits for a resident worker by blocking on the worker's wake pipe (src/os/wake-pipe.ts)
// instead of running a `sleep` process every 10-20 ms. These run the launcher's own `news`
// function against a pipe this process holds as the worker would.
import { spawn } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { openWakePipe } from '../../src/os/wake-pipe.js';
import { PITR_BIN } from '../../tools/harness/env.js';

const newsFn = /^news\(\) \{\n[\s\S]*?\n\}\n/m.exec(readFileSync(PITR_BIN, 'utf8'))![0];
const dir = mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-wake-'));

/**
 * Runs `news` twice in /bin/sh: the first call opens the pipe ("opened"), the second waits.
 * Resolves with what the shell printed once it ends; `opened` fires when the first call is done.
 */
function waitingCaller(pipe: string, path: string, opened: () => void): Promise<{ out: string; err: string }> {
  const script = `waking=\n${newsFn}news "$1" 0.01; echo opened; news "$1" 0.01; echo "waking=$waking"`;
  const child = spawn('/bin/sh', ['-c', script, 'sh', pipe], { env: { PATH: path } });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    if (out === 'opened\n') opened();
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  return new Promise((resolve) => child.on('close', () => resolve({ out, err })));
}

describe('the wake pipe between a worker and bin/pitr', () => {
  it("a waiting caller returns on the worker's line, with no sleep process", async () => {
    const pipe = join(dir, 'line');
    const worker = openWakePipe(pipe);
    try {
      // No `sleep` on PATH: a caller that fell back to sleeping would print "not found".
      const res = await waitingCaller(pipe, '/nonexistent', () => worker.wake('000000010000000000000001'));
      expect(res.err).toBe('');
      expect(res.out).toBe('opened\nwaking=1\n'); // woken by a line, the pipe still open
    } finally {
      worker.close();
    }
  });

  it('a worker that exits ends the wait: the caller reads end-of-file and stops listening', async () => {
    const pipe = join(dir, 'gone');
    const worker = openWakePipe(pipe);
    const res = await waitingCaller(pipe, process.env.PATH!, () => worker.close());
    expect(res.err).toBe('');
    expect(res.out).toBe('opened\nwaking=\n');
  });

  it('replaces a regular file in its place with a FIFO', () => {
    const pipe = join(dir, 'planted');
    writeFileSync(pipe, 'not a pipe\n');
    const worker = openWakePipe(pipe);
    try {
      expect(lstatSync(pipe).isFIFO()).toBe(true);
      worker.wake(); // nobody reads: no error, no block
    } finally {
      worker.close();
    }
  });
});
