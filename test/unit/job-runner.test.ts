// The agent's job runner with a stand-in for bin/pitr (a shell script that records its call
// and waits for a file): one job at a time, another kind waits its turn, the same kind asked
// for again is skipped and the skip recorded; a job that dies without a record is recorded
// failed; stop() ends the running job.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { JobRunner, type JobEnd } from '../../src/agent/job-runner.js';
import { loadConfig } from '../../src/config/config.js';
import { createLogger } from '../../src/log.js';
import { bindIdentity } from '../../src/repository/identity.js';
import { readHistory } from '../../src/repository/job-history.js';
import { openStorage } from '../../src/storage/open.js';
import { tempDir, waitFor } from '../../tools/harness/env.js';

const cluster = { systemIdentifier: '7310123456789012345', pgVersion: 15, walSegmentSize: 16 * 1024 * 1024 };

async function setUp() {
  const dir = await tempDir('pitr-runner-');
  const storage = await openStorage(loadConfig({ repo: `file://${dir}` }, {}));
  await bindIdentity(storage, cluster, 'test', 'x');
  // "$@" is the flags and the job; it notes the job and its id, then waits until released
  // (a file named after the job), and exits with the code that file holds.
  const pitr = join(dir, 'fake-pitr');
  await writeFile(
    pitr,
    `#!/bin/sh
job=$(eval echo \\$$#)
echo "$job $PITR_JOB_ID $PITR_JOB_TRIGGER" >> ${dir}/calls
while [ ! -f ${dir}/release-$job ]; do sleep 0.05; done
exit $(cat ${dir}/release-$job)
`,
    { mode: 0o755 },
  );
  const ends: JobEnd[] = [];
  const runner = new JobRunner({
    pitr,
    flags: ['--repo', `file://${dir}`],
    storage: () => storage,
    log: createLogger('silent', 'test'),
    onEnd: (e) => ends.push(e),
    env: {},
  });
  const calls = async () => (await readFile(join(dir, 'calls'), 'utf8').catch(() => '')).split('\n').filter(Boolean);
  const release = (job: string, code: number) => writeFile(join(dir, `release-${job}`), String(code));
  return { dir, storage, runner, ends, calls, release };
}

describe('the job runner', () => {
  it('runs one job at a time: another kind waits, the same kind again is skipped and recorded', async () => {
    const { storage, runner, ends, calls, release } = await setUp();
    const backup = await runner.request('backup', 'schedule');
    const verify = await runner.request('verify', 'api');
    expect(await runner.request('backup', 'schedule')).toBeNull();
    expect(await runner.request('verify', 'schedule')).toBeNull();
    await waitFor('the backup to start', async () => (await calls()).length === 1);
    expect((await calls())[0]).toBe(`backup ${backup!.id} schedule`);
    const skipped = (await readHistory(storage, 10)).jobs.filter((j) => j.status === 'skipped');
    expect(skipped.map((j) => [j.kind, j.error])).toEqual([
      ['verify', `skipped: verify ${verify!.id} is still waiting to run`],
      ['backup', `skipped: backup ${backup!.id} is still running`],
    ]);
    await release('backup', 0);
    await waitFor('the verify to start', async () => (await calls()).length === 2);
    expect((await calls())[1]).toBe(`verify ${verify!.id} api`);
    await release('verify', 3);
    await waitFor('both ends', async () => ends.length === 2);
    expect(ends.map((e) => [e.kind, e.exitCode])).toEqual([
      ['backup', 0],
      ['verify', 3],
    ]);
    // The stand-in wrote no record: the failed one is recorded by the runner, the passed one is not invented.
    const jobs = (await readHistory(storage, 10)).jobs;
    expect(jobs.find((j) => j.id === verify!.id)).toMatchObject({ status: 'failed', error: 'exit code 3', trigger: 'api' });
    expect(jobs.find((j) => j.id === backup!.id)).toBeUndefined();
  });

  it('stop() ends the running job and takes no more', async () => {
    const { storage, runner, ends } = await setUp();
    const job = await runner.request('restore-test', 'schedule');
    await waitFor('it runs', async () => runner.running?.id === job!.id);
    await runner.stop();
    expect(ends.map((e) => [e.kind, e.signal])).toEqual([['restore-test', 'SIGTERM']]);
    expect(await runner.request('backup', 'schedule')).toBeNull();
    const jobs = (await readHistory(storage, 10)).jobs;
    expect(jobs.find((j) => j.id === job!.id)).toMatchObject({ status: 'failed', error: 'ended by SIGTERM' });
    expect(jobs.find((j) => j.kind === 'backup')).toMatchObject({ status: 'skipped', error: 'skipped: the agent is stopping' });
  });
});
