// A restore with --start into a new directory on a free port, as the tests run it: the
// server it leaves running, and the command's result.
import { join } from 'node:path';
import { expect } from 'vitest';
import { freePort, pitr, tempDir, type PitrResult } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';

/**
 * `pitr [global…] restore --target-dir <new> --start --port <free> [args…]`, which must exit 0.
 * `global` are the flags before the command (--config, --encrypt-identity-file …); the caller
 * stops the server.
 */
export async function restoreStarted(
  global: string[],
  args: string[],
  env: Record<string, string> = {},
): Promise<{ server: Cluster; result: PitrResult; dir: string }> {
  const port = await freePort();
  const dir = join(await tempDir('restore'), 'data');
  const result = await pitr([...global, 'restore', '--target-dir', dir, '--start', '--port', String(port), ...args], { env });
  expect(result.exitCode, result.stderr).toBe(0);
  return { server: Cluster.existing(dir, port), result, dir };
}
