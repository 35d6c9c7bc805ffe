// Where a running server listens, from its postmaster.pid: what `pitr backup --pgdata` uses
// when neither PGHOST nor PGPORT says, as pg_ctl does.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { serverConnection } from '../../src/pg/connection.js';
import { readPostmasterPid, serverAddress } from '../../src/pg/postmaster-pid.js';

/** A data directory whose postmaster.pid has these lines after pid, directory and start time. */
const emptyDir = () => mkdtempSync(join(process.env.PITR_TMP_ROOT ?? tmpdir(), 'pitr-unit-'));
function dataDir(pid: number, ...lines: string[]): string {
  const dir = emptyDir();
  writeFileSync(join(dir, 'postmaster.pid'), [pid, dir, '1764892800', ...lines, ''].join('\n'));
  return dir;
}
const live = process.pid;
/** A pid no process has: above Linux's pid_max limit. */
const gone = 2 ** 22 + 1;

describe('serverAddress', () => {
  it('takes the port and the first socket directory (lines 4 and 5)', () => {
    const dir = dataDir(live, '5433', '/run/pg-sockets', '127.0.0.1', '  1234 5678', 'ready   ');
    expect(serverAddress(dir)).toEqual({ host: '/run/pg-sockets', port: 5433 });
    expect(readPostmasterPid(dir)).toMatchObject({ pid: live, startTime: '1764892800', port: 5433 });
  });

  it('takes the listen address when the server has no socket directory, "*" meaning this host', () => {
    expect(serverAddress(dataDir(live, '6543', '', '10.1.2.3', '0 0', 'ready   '))).toEqual({ host: '10.1.2.3', port: 6543 });
    expect(serverAddress(dataDir(live, '6543', '', '*', '0 0', 'ready   '))).toEqual({ host: 'localhost', port: 6543 });
  });

  it('answers null when no server runs there: no file, a dead pid, or nowhere to connect', () => {
    expect(serverAddress(emptyDir())).toBeNull();
    expect(serverAddress(dataDir(gone, '5433', '/run/pg-sockets', '*', '0 0', 'ready   '))).toBeNull();
    expect(serverAddress(dataDir(live, '5433', '', '', '0 0', 'ready   '))).toBeNull();
  });
});

describe('serverConnection', () => {
  const dir = dataDir(live, '5433', '/run/pg-sockets', '127.0.0.1', '0 0', 'ready   ');

  it('uses the data directory only when neither --db-url, PGHOST nor PGPORT says where', () => {
    expect(serverConnection({ pgdata: dir }, {})).toEqual({ host: '/run/pg-sockets', port: 5433 });
    expect(serverConnection({ pgdata: dir, dbUrl: 'postgres://db/x' }, {})).toEqual({ url: 'postgres://db/x' });
    expect(serverConnection({ pgdata: dir }, { PGPORT: '5434' })).toEqual({});
    expect(serverConnection({ pgdata: dir }, { PGHOST: 'db' })).toEqual({});
    expect(serverConnection({}, {})).toEqual({});
  });
});
