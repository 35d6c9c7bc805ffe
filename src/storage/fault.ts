// Crash injection for the "push killed mid-write" tests. PITR_TEST_CRASH=mid-write makes a
// storage driver SIGKILL its own process after writing half of an object's bytes: the same
// state a kill -9 or power loss leaves, but at a point the test can rely on. Off unless the
// variable is set; reading one variable costs nothing on the hot path.

export function crashMidWriteRequested(): boolean {
  return process.env.PITR_TEST_CRASH === 'mid-write';
}

export function crashNow(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL did not stop the process');
}
