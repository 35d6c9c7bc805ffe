// How pitr reaches the database server: --db-url; else libpq's variables (PGHOST, PGPORT,
// PGUSER ..., from the environment or the config file); else, when neither PGHOST nor PGPORT
// is set and the data directory is known, where the server running there listens (its
// postmaster.pid), as pg_ctl finds it: a cluster on another port than 5432 needs no settings.
import type { Client } from 'pg';
import type { Config } from '../config/config.js';
import { serverAddress, type ServerAddress } from './postmaster-pid.js';

export type DbConnection = { url: string } | ServerAddress | Record<string, never>;

export function serverConnection(config: Pick<Config, 'dbUrl' | 'pgdata'>, env: NodeJS.ProcessEnv = process.env): DbConnection {
  if (config.dbUrl) return { url: config.dbUrl };
  if (env.PGHOST || env.PGPORT || !config.pgdata) return {};
  return serverAddress(config.pgdata) ?? {};
}

/** A client for the connection (not yet connected); what it leaves out, pg takes from libpq's variables. */
export async function newClient(connection: DbConnection, options: { queryTimeoutMs?: number } = {}): Promise<Client> {
  const { default: pg } = await import('pg');
  const timeout = options.queryTimeoutMs === undefined ? {} : { query_timeout: options.queryTimeoutMs };
  return new pg.Client('url' in connection ? { connectionString: connection.url, ...timeout } : { ...connection, ...timeout });
}

/**
 * A connected client, or an Error saying why not (a server that accepts the connection but
 * never answers counts as not answering after `timeoutMs`); the client is closed on failure.
 */
export async function connectWithin(
  connection: DbConnection,
  timeoutMs: number,
  options: { queryTimeoutMs?: number } = {},
): Promise<Client> {
  const client = await newClient(connection, options);
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      client.connect(),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs / 1000} s`)), timeoutMs);
      }),
    ]);
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Connection arguments for child programs (pg_basebackup): a URL without its password (which
 * would show in `ps`), the password moved into PGPASSWORD.
 */
export function childConnection(connection: DbConnection): { args: string[]; env: Record<string, string> } {
  if ('host' in connection) return { args: ['-h', connection.host, '-p', String(connection.port)], env: {} };
  if (!('url' in connection)) return { args: [], env: {} };
  let url: URL;
  try {
    url = new URL(connection.url);
  } catch {
    return { args: ['-d', connection.url], env: {} }; // key=value connection strings pass through
  }
  const env: Record<string, string> = {};
  if (url.password) {
    env.PGPASSWORD = decodeURIComponent(url.password);
    url.password = '';
  }
  return { args: ['-d', url.toString()], env };
}
