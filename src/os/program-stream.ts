// A program as a stream stage (stdin -> stdout): C speed on another core, constant memory.
// Its non-zero exit fails the pipeline, with execa's error (command, stderr) as the reason.
import { execa } from 'execa';
import type { Duplex } from 'node:stream';

export function programStage(program: string, args: string[], ids: { uid?: number; gid?: number } = {}): Duplex {
  const proc = execa(program, args, {
    ...ids,
    cwd: '/',
    stdin: 'pipe',
    stdout: 'pipe',
    stderr: 'pipe',
    buffer: { stdout: false },
    env: { LC_ALL: 'C' },
  });
  proc.catch(() => undefined); // reported through the duplex
  return proc.duplex();
}
