import { Transform } from 'node:stream';

// Crash injection for the "push killed mid-write" tests. PITR_TEST_CRASH=mid-write makes a
// storage driver SIGKILL its own process after writing half of an object's bytes: the same
// state a kill -9 or power loss leaves, but at a point the test can rely on. Off unless the
// variable is set; reading one variable costs nothing on the hot path.

/** Streamed writes crash after this many bytes (their total is not known up front). */
export const STREAM_CRASH_AFTER = 1024 * 1024;

export function crashMidWriteRequested(): boolean {
  return process.env.PITR_TEST_CRASH === 'mid-write';
}

/** PITR_TEST_CRASH=mid-stream: the same for streamed writes (base backups) only. */
export function crashMidStreamRequested(): boolean {
  return process.env.PITR_TEST_CRASH === 'mid-stream';
}

/** PITR_TEST_CRASH=lookahead: the resident archiver dies after storing its second file, before recording it. */
export function crashInLookaheadRequested(): boolean {
  return process.env.PITR_TEST_CRASH === 'lookahead';
}

/** For streamed writes: a pass-through that SIGKILLs the process once `afterBytes` have passed. */
export function crashAfter(afterBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > afterBytes) crashNow();
      done(null, chunk);
    },
  });
}

export function crashNow(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL did not stop the process');
}
