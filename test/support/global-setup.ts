// The end-to-end tests run bin/pitr, which runs the bundle: build it once from the sources
// under test. Every temporary directory of the run goes under one root, removed at the end.
import { execa } from 'execa';
import { makeTempRoot, removeTempRoot, ROOT } from '../../tools/harness/env.js';

export default async function setup(): Promise<() => Promise<void>> {
  await execa(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
  const root = await makeTempRoot('test');
  return async () => {
    if (!process.env.PITR_TEST_KEEP) await removeTempRoot(root);
  };
}
