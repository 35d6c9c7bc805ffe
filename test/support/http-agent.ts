// `pitr agent` serving HTTP on a free loopback port, with a token and every schedule off,
// ready once its first health watch is served.
import { execa, type ResultPromise } from 'execa';
import { freePort, PITR_BIN, waitFor } from '../../tools/harness/env.js';

export interface HttpAgent {
  agent: ResultPromise;
  /** http://127.0.0.1:PORT */
  base: string;
  stop(): Promise<void>;
}

export async function startHttpAgent(env: Record<string, string>, token: string, extra: Record<string, string> = {}): Promise<HttpAgent> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const agent = execa(PITR_BIN, ['agent'], {
    env: {
      ...env,
      PITR_HTTP_LISTEN: `127.0.0.1:${port}`,
      PITR_HTTP_TOKEN: token,
      PITR_WATCH_INTERVAL: '1s',
      PITR_SCHEDULE_BACKUP: 'off',
      PITR_SCHEDULE_VERIFY: 'off',
      PITR_SCHEDULE_RESTORE_TEST: 'off',
      ...extra,
    },
    reject: false,
  });
  await waitFor('the first health watch over HTTP', async () => (await fetch(`${base}/api/status`).catch(() => null))?.status === 200);
  return {
    agent,
    base,
    async stop() {
      agent.kill('SIGTERM');
      await agent;
    },
  };
}
