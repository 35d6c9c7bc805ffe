// Locates PostgreSQL client programs: the server's own major version first (pg_basebackup
// must not be older than the server), then PATH.
import { existsSync } from 'node:fs';
import { join } from 'node:path';

export function pgProgram(name: string, serverMajor: number | undefined): string {
  const dirs = [
    process.env.PITR_PG_BINDIR,
    serverMajor ? `/usr/lib/postgresql/${serverMajor}/bin` : undefined,
    `/usr/pgsql-${serverMajor}/bin`,
  ];
  for (const dir of dirs) if (dir && existsSync(join(dir, name))) return join(dir, name);
  return name;
}

/**
 * Connection for child programs: the URL without its password (which would show in `ps`),
 * the password moved into PGPASSWORD.
 */
export function childConnection(dbUrl: string | undefined): { args: string[]; env: Record<string, string> } {
  if (!dbUrl) return { args: [], env: {} };
  let url: URL;
  try {
    url = new URL(dbUrl);
  } catch {
    return { args: ['-d', dbUrl], env: {} }; // key=value connection strings pass through
  }
  const env: Record<string, string> = {};
  if (url.password) {
    env.PGPASSWORD = decodeURIComponent(url.password);
    url.password = '';
  }
  return { args: ['-d', url.toString()], env };
}
