// User accounts through the system's name service: getent reads whatever nsswitch.conf names
// (/etc/passwd, LDAP, SSSD, systemd's dynamic users), where reading /etc/passwd would miss
// every account not kept in it. Asked once per command that runs things as another user.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { InputError } from '../errors.js';

export interface UserAccount {
  name: string;
  uid: number;
  gid: number;
}

const run = promisify(execFile);

/** getent's exit code for "no such entry". */
const GETENT_NOT_FOUND = 2;

/** The account with this uid or name, or null when the name service knows none. */
export async function lookupUser(user: number | string): Promise<UserAccount | null> {
  let stdout: string;
  try {
    ({ stdout } = await run('getent', ['passwd', String(user)], { encoding: 'utf8', timeout: 30_000 }));
  } catch (err) {
    // execFile's error: `code` is the exit code when getent ran, the errno name when it could not start.
    const e = err as Error & { code?: number | string; stderr?: string };
    if (e.code === GETENT_NOT_FOUND) return null;
    const detail = typeof e.code === 'string' ? e.code : (e.stderr?.trim() ?? e.message);
    throw new InputError(`cannot look up user ${user} with getent (${detail}): install getent (libc-bin) or fix the name service`, err);
  }
  // name:password:uid:gid:gecos:home:shell
  const [name, , uid, gid] = stdout.split('\n')[0]!.split(':');
  if (!name || !/^\d+$/.test(uid ?? '') || !/^\d+$/.test(gid ?? '')) {
    throw new InputError(`getent passwd ${user} answered "${stdout.trim()}", not a passwd entry: fix the name service`);
  }
  return { name, uid: Number(uid), gid: Number(gid) };
}
