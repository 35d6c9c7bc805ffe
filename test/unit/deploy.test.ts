// The shipped deployment files: the systemd units pass systemd-analyze verify (with pitr and
// the config file standing in), every timer has its service, and the cron example runs the
// jobs the agent would, each line well formed.
import { execa } from 'execa';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT, tempDir } from '../../tools/harness/env.js';

const UNITS = join(ROOT, 'deploy', 'systemd');

describe('deployment files', () => {
  it('systemd units verify, and every timer starts a service that runs pitr', async () => {
    const dir = await tempDir('pitr-units-');
    const files = await readdir(UNITS);
    expect(files).toEqual(expect.arrayContaining(['pitr-agent.service', 'pitr-backup.service', 'pitr-backup.timer']));
    const env = join(dir, 'pitr.env');
    await writeFile(env, 'PITR_REPO=file:///var/lib/pitr\n');
    for (const f of files) {
      const text = await readFile(join(UNITS, f), 'utf8');
      if (f.endsWith('.timer')) expect(files).toContain(f.replace(/\.timer$/, '.service'));
      if (f.endsWith('.service')) expect(text).toMatch(/^ExecStart=\/usr\/bin\/pitr (agent|backup|verify|restore-test)$/m);
      // systemd-analyze checks that executables and files exist: stand-ins for them.
      await writeFile(join(dir, f), text.replaceAll('/usr/bin/pitr', '/bin/true').replaceAll('/etc/pitr/pitr.env', env));
    }
    const res = await execa('systemd-analyze', ['verify', ...files.map((f) => join(dir, f))], { reject: false });
    expect(res.exitCode, res.stderr).toBe(0);
    expect(res.stderr).toBe('');
  });

  it('the cron example has five time fields, a user and a pitr command on each job line', async () => {
    const lines = (await readFile(join(ROOT, 'deploy', 'cron', 'pitr'), 'utf8'))
      .split('\n')
      .filter((l) => l.trim() !== '' && !l.startsWith('#') && !/^[A-Z]+=/.test(l));
    expect(lines.length).toBeGreaterThanOrEqual(4);
    for (const l of lines) expect(l).toMatch(/^(\S+\s+){5}postgres\s+pitr (backup|verify|restore-test|status)\b/);
  });
});
