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
