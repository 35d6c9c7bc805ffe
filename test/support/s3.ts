// One S3 store per test file, started before its tests and stopped after them.
import { afterAll, beforeAll } from 'vitest';
import { startS3Store, type S3Store } from '../../tools/harness/s3.js';

/** Registers the hooks; call the returned function inside tests or nested hooks. */
export function useS3Store(): () => S3Store {
  let store: S3Store | undefined;
  beforeAll(async () => {
    store = await startS3Store();
  });
  afterAll(async () => {
    await store?.stop();
  });
  return () => {
    if (!store) throw new Error('the S3 store is not started yet: use it inside a test or hook');
    return store;
  };
}
