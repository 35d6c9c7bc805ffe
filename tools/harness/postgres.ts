// Throwaway PostgreSQL clusters: initdb on a free port, started as the postgres user.
import { appendFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import pg from 'pg';
import { asPostgres, freePort, PG_BIN, tempDir, waitFor } from './env.js';

export interface ClusterOptions {
  /** Extra postgresql.conf lines. */
  conf?: Record<string, string | number>;
  initdbArgs?: string[];
}

export class Cluster {
  private constructor(
    readonly dataDir: string,
    readonly port: number,
  ) {}

  /** initdb a new cluster (not started). */
  static async create(options: ClusterOptions = {}): Promise<Cluster> {
    const dataDir = join(await tempDir('pg'), 'data');
    const res = await asPostgres(join(PG_BIN, 'initdb'), [
      '-D',
      dataDir,
      '-U',
      'postgres',
      '--auth=trust',
      '-N',
      ...(options.initdbArgs ?? []),
    ]);
    if (res.exitCode !== 0) throw new Error(`initdb failed: ${res.stderr}`);
    const cluster = new Cluster(dataDir, await freePort());
    await cluster.configure({ fsync: 'off', ...options.conf });
    return cluster;
  }

  /** A cluster from an existing data directory (e.g. a pg_basebackup copy). */
  static async adopt(dataDir: string, conf: Record<string, string | number> = {}): Promise<Cluster> {
    const cluster = new Cluster(dataDir, await freePort());
    await cluster.configure(conf);
    return cluster;
  }

  /** A data directory already set up elsewhere (e.g. by pitr restore) to run on `port`. */
  static existing(dataDir: string, port: number): Cluster {
    return new Cluster(dataDir, port);
  }

  /** libpq variables that reach this server (for pitr backup, pgbench ...). */
  get libpqEnv(): Record<string, string> {
    return { PGHOST: '127.0.0.1', PGPORT: String(this.port), PGUSER: 'postgres', PGDATABASE: 'postgres' };
  }

  /** Appends settings; the last occurrence wins in postgresql.conf. */
  async configure(conf: Record<string, string | number>): Promise<void> {
    const lines = Object.entries({
      port: this.port,
      listen_addresses: "'127.0.0.1'",
      unix_socket_directories: "''",
      ...conf,
    }).map(([k, v]) => `${k} = ${v}`);
    await appendFile(join(this.dataDir, 'postgresql.conf'), `\n${lines.join('\n')}\n`);
  }

  async start(): Promise<void> {
    const res = await asPostgres(join(PG_BIN, 'pg_ctl'), [
      '-D',
      this.dataDir,
      '-l',
      join(this.dataDir, 'server.log'),
      '-w',
      '-t',
      '120',
      'start',
    ]);
    if (res.exitCode !== 0) throw new Error(`pg_ctl start failed: ${res.stdout} ${res.stderr}`);
  }

  async stop(mode: 'fast' | 'immediate' = 'fast'): Promise<void> {
    await asPostgres(join(PG_BIN, 'pg_ctl'), ['-D', this.dataDir, '-m', mode, '-w', 'stop']);
  }

  async query<T extends pg.QueryResultRow = Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<T[]> {
    const client = new pg.Client({ host: '127.0.0.1', port: this.port, user: 'postgres', database: 'postgres' });
    await client.connect();
    try {
      return (await client.query<T>(sql, params)).rows;
    } finally {
      await client.end();
    }
  }

  async one<T = unknown>(sql: string, params: unknown[] = []): Promise<T> {
    const rows = await this.query(sql, params);
    return Object.values(rows[0] ?? {})[0] as T;
  }

  /** Forces a switch to a new segment; returns the name of the segment it closed. */
  async switchWal(): Promise<string> {
    return this.one<string>('SELECT pg_walfile_name(pg_switch_wal())');
  }

  async waitArchived(segment: string, timeoutMs = 120_000): Promise<void> {
    await waitFor(
      `${segment} archived`,
      async () => {
        const last = await this.one<string | null>('SELECT last_archived_wal FROM pg_stat_archiver');
        return last !== null && last >= segment;
      },
      timeoutMs,
    );
  }

  /** pg_basebackup into a new directory, WAL not included: recovery must fetch it all. */
  async baseBackup(): Promise<string> {
    const dir = join(await tempDir('basebackup'), 'data');
    const res = await asPostgres(join(PG_BIN, 'pg_basebackup'), [
      '-h',
      '127.0.0.1',
      '-p',
      String(this.port),
      '-U',
      'postgres',
      '-D',
      dir,
      '-X',
      'none',
      '-c',
      'fast',
    ]);
    if (res.exitCode !== 0) throw new Error(`pg_basebackup failed: ${res.stderr}`);
    return dir;
  }

  async log(): Promise<string> {
    const { readFile } = await import('node:fs/promises');
    return readFile(join(this.dataDir, 'server.log'), 'utf8').catch(() => '');
  }

  /** Makes this data directory recover from the archive and promote at its end. */
  async prepareRecovery(restoreCommand: string): Promise<void> {
    await this.configure({ archive_mode: 'off', restore_command: `'${restoreCommand}'`, recovery_target_action: "'promote'" });
    await writeFile(join(this.dataDir, 'recovery.signal'), '');
    await asPostgres('chown', ['postgres', join(this.dataDir, 'recovery.signal')]);
  }
}
