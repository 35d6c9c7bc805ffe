// The job history: a job is recorded running, then with its result; one that died shows as
// failed; nothing is written into a directory that is not a repository; old records are pruned.
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/config.js';
import { StorageError } from '../../src/errors.js';
import { runRecordedJob } from '../../src/jobs/recorded-job.js';
import { createLogger } from '../../src/log.js';
import { bindIdentity } from '../../src/repository/identity.js';
import {
  listJobIds,
  newJobId,
  pruneHistory,
  readHistory,
  readJobRecord,
  runningRecord,
  writeJobRecord,
} from '../../src/repository/job-history.js';
import { openStorage } from '../../src/storage/open.js';
import { tempDir } from '../../tools/harness/env.js';

const cluster = { systemIdentifier: '7310123456789012345', pgVersion: 15, walSegmentSize: 16 * 1024 * 1024 };
const log = createLogger('silent', 'test');

async function repository(bind = true) {
  const dir = await tempDir('history');
  const storage = await openStorage(loadConfig({ repo: `file://${dir}` }, {}));
  if (bind) await bindIdentity(storage, cluster, 'test', 'x');
  return { dir, storage };
}

describe('job history', () => {
  it('records a job running while it runs, then its result; a failure keeps its error and is thrown on', async () => {
    const { storage } = await repository();
    let seenWhileRunning: string | undefined;
    const result = await runRecordedJob({
      storage,
      log,
      kind: 'backup',
      env: {},
      run: async () => {
        const [id] = await listJobIds(storage);
        seenWhileRunning = (await readJobRecord(storage, id!))?.status;
        return 42;
      },
      outcome: (n) => ({ status: 'passed', bytes: n }),
    });
    expect(result).toBe(42);
    expect(seenWhileRunning).toBe('running');
    const failing = runRecordedJob({
      storage,
      log,
      kind: 'verify',
      env: {},
      run: () => Promise.reject(new StorageError('the store said no: fix it')),
      outcome: () => ({ status: 'passed' }),
    });
    await expect(failing).rejects.toThrow(StorageError);
    const jobs = (await readHistory(storage, 10)).jobs;
    expect(jobs.map((j) => [j.kind, j.status, j.bytes, j.error])).toEqual([
      ['verify', 'failed', null, 'the store said no: fix it'],
      ['backup', 'passed', 42, null],
    ]);
    expect(jobs[1]!.durationSeconds).toBeGreaterThanOrEqual(0);
  });

  it('takes the id and trigger the agent gives', async () => {
    const { storage } = await repository();
    const id = newJobId('expire');
    await runRecordedJob({
      storage,
      log,
      kind: 'expire',
      env: { PITR_JOB_ID: id, PITR_JOB_TRIGGER: 'schedule' },
      run: async () => undefined,
      outcome: () => ({ status: 'passed' }),
    });
    expect((await readJobRecord(storage, id))?.trigger).toBe('schedule');
  });

  it('shows a running record whose process is gone as failed, naming the process', async () => {
    const { storage } = await repository();
    const record = { ...runningRecord(newJobId('backup'), 'backup', 'cli'), pid: 2 ** 22 + 17 };
    await writeJobRecord(storage, record);
    const [job] = (await readHistory(storage, 1)).jobs;
    expect(job!.status).toBe('failed');
    expect(job!.error).toMatch(new RegExp(`the job died: process ${record.pid} on .* ended without recording a result`));
    // Another host's record is judged by its heartbeat.
    const far = { ...runningRecord(newJobId('verify'), 'verify', 'cli'), pidSpace: 'elsewhere', host: 'db2' };
    await writeJobRecord(storage, far);
    expect((await readHistory(storage, 1)).jobs[0]!.status).toBe('running');
    const later = new Date(Date.now() + 6 * 60_000);
    expect((await readHistory(storage, 1, later)).jobs[0]!.error).toMatch(/process \d+ on db2 has not reported since/);
  });

  it('leaves a damaged record out, naming it, and shows the others', async () => {
    const { dir, storage } = await repository();
    const good = newJobId('backup', new Date(Date.UTC(2026, 0, 1)));
    await writeJobRecord(storage, { ...runningRecord(good, 'backup', 'cli'), status: 'passed' });
    const bad = newJobId('verify', new Date(Date.UTC(2026, 0, 2)));
    await writeFile(join(dir, 'history', `${bad}.json`), '{"format": 2, "from": "a newer pitr"}');
    const { jobs, damaged } = await readHistory(storage, 10);
    expect(jobs.map((j) => j.id)).toEqual([good]);
    expect(damaged).toEqual([expect.stringContaining(`history/${bad}.json is damaged`)]);
  });

  it('writes nothing into a directory that is not a repository', async () => {
    const { dir, storage } = await repository(false);
    await runRecordedJob({ storage, log, kind: 'verify', env: {}, run: async () => 1, outcome: () => ({ status: 'passed' }) });
    await expect(readFile(join(dir, 'history'))).rejects.toThrow(/ENOENT/);
  });

  it('prunes the oldest records beyond the limit', async () => {
    const { storage } = await repository();
    const ids = [0, 1, 2, 3].map((i) => newJobId('verify', new Date(Date.UTC(2026, 0, 1 + i))));
    for (const id of ids) await writeJobRecord(storage, { ...runningRecord(id, 'verify', 'cli'), status: 'passed' });
    expect(await pruneHistory(storage, 3)).toBe(1);
    expect(await listJobIds(storage)).toEqual(ids.slice(1));
  });
});
