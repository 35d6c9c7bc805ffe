// Accounts come from the name service (getent), so an LDAP or SSSD user who owns a data
// directory is found as well as one in /etc/passwd.
import { execFileSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import { lookupUser } from '../../src/os/user-account.js';

const id = (flag: string, user: string) => Number(execFileSync('id', [flag, user], { encoding: 'utf8' }));

describe('lookupUser', () => {
  it('finds root by uid and by name', async () => {
    expect(await lookupUser(0)).toEqual({ name: 'root', uid: 0, gid: 0 });
    expect(await lookupUser('root')).toEqual({ name: 'root', uid: 0, gid: 0 });
  });

  it('finds postgres by name and by uid, with its primary group', async () => {
    const postgres = { name: 'postgres', uid: id('-u', 'postgres'), gid: id('-g', 'postgres') };
    expect(await lookupUser('postgres')).toEqual(postgres);
    expect(await lookupUser(postgres.uid)).toEqual(postgres);
  });

  it('answers null for a uid and a name no account has', async () => {
    expect(await lookupUser(2147483646)).toBeNull();
    expect(await lookupUser('no-such-user-pitr')).toBeNull();
  });

  it('fails with a line naming the user and the fix when the name service cannot be asked', async () => {
    const path = process.env.PATH;
    process.env.PATH = '/nonexistent'; // no getent to run
    try {
      const err = await lookupUser(0).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(InputError);
      expect((err as Error).message).toBe('cannot look up user 0 with getent (ENOENT): install getent (libc-bin) or fix the name service');
    } finally {
      process.env.PATH = path;
    }
  });
});
