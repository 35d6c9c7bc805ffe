// The end-to-end tests run bin/pitr, which runs the bundle: build it once from the sources under test.
import { execa } from 'execa';
import { ROOT } from '../../tools/harness/env.js';

export default async function setup(): Promise<void> {
  await execa(process.execPath, ['scripts/build.mjs'], { cwd: ROOT, stdio: 'inherit' });
}
