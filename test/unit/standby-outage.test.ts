// A standby's answer while its repository cannot be reached, decided from what restore_command
// can see in the data directory (the end-to-end cases, with real servers, are in
// test/e2e/standby-outage.test.ts).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeEach, describe, expect, it } from 'vitest';
import { outageVerdict, RELEASE_FILE } from '../../src/archive/standby-outage.js';

const SEGMENT = '000000010000000000000005';
let dir: string;
/** A standby whose server "runs": postmaster.pid names this live process. */
beforeEach(() => {
  dir = mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-unit-standby-'));
  mkdirSync(join(dir, 'pg_wal'));
  writeFileSync(join(dir, 'standby.signal'), '');
  writeFileSync(join(dir, 'postmaster.pid'), `${process.pid}\n${dir}\n1764892800\n`);
});

describe('a standby while its repository cannot be reached', () => {
  it('waits when the repository is its only source (primary_conninfo cannot be read here: it does not assume one)', () => {
    expect(outageVerdict(dir, SEGMENT).wait).toBe(true);
  });

  it('waits with a promotion pending, even for a history file', () => {
    writeFileSync(join(dir, 'promote'), '');
    expect(outageVerdict(dir, SEGMENT)).toMatchObject({ wait: true, why: expect.stringMatching(/promotion is pending/) });
    expect(outageVerdict(dir, '00000002.history').wait).toBe(true);
  });

  it('answers "not found" when PostgreSQL reads pg_wal next and the file is there, unless a promotion is pending', () => {
    writeFileSync(join(dir, 'pg_wal', SEGMENT), '');
    expect(outageVerdict(dir, SEGMENT)).toMatchObject({ wait: false, why: expect.stringMatching(/pg_wal/) });
    // A streamed segment in pg_wal may be partial, or a recycled file: PostgreSQL would promote at its end.
    writeFileSync(join(dir, 'promote'), '');
    expect(outageVerdict(dir, SEGMENT).wait).toBe(true);
  });

  it('answers "not found" for a history file while no promotion is pending', () => {
    expect(outageVerdict(dir, '00000002.history').wait).toBe(false);
  });

  it('answers "not found" when no server runs: nothing waits on the answer', () => {
    rmSync(join(dir, 'postmaster.pid'));
    expect(outageVerdict(dir, SEGMENT).wait).toBe(false);
  });

  it('answers "not found" once released for this run of the server only', () => {
    writeFileSync(join(dir, 'promote'), '');
    writeFileSync(join(dir, RELEASE_FILE), `${process.pid} 1764800000\n`); // another run's release
    expect(outageVerdict(dir, SEGMENT).wait).toBe(true);
    writeFileSync(join(dir, RELEASE_FILE), `${process.pid} 1764892800\n`);
    expect(outageVerdict(dir, SEGMENT)).toMatchObject({ wait: false, why: expect.stringMatching(/released/) });
  });
});
