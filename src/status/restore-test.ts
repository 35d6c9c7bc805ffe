// The hook for `pitr restore-test` (not built yet): status shows the last restore test and
// judges it (a failure, or one older than PITR_ALERT_RESTORE_TEST_AGE) once one has run.
// Until restore-test records its runs in the repository there is none: replace this reader
// with the one over its record (as repository/verify-results.ts does for verify).
import type { Storage } from '../storage/storage.js';

export interface RestoreTestRun {
  finishedAt: string;
  result: 'passed' | 'failed';
}

export async function readLastRestoreTest(_storage: Storage): Promise<RestoreTestRun | null> {
  return null;
}
