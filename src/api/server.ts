// The agent's HTTP interface on node:http: a handful of routes need no framework, and nothing
// is loaded that wal-push or the other commands would pay for. Bound to loopback by default.
// Every answer comes from what the agent already knows (its last health watch, its listing
// of the repository, refreshed in the background) or from a bounded read, so a slow or
// failing repository never holds /healthz or /metrics: they serve the last known state, and
// the `Age` header (seconds, RFC 9111) says how old it is.
//   GET  /                     the dashboard (static files from ./dashboard/, copied to dist/dashboard/)
//   GET  /healthz              the agent answers, and when it last watched health
//   GET  /api/status           `pitr status --json` as of the last watch
//   GET  /api/backups          `pitr list --json`
//   GET  /api/history?limit=N  `pitr history --json`
//   GET  /api/wal-backlog      the .ready backlog as each health watch since the agent started saw it
//   GET  /api/backups/ID/download  the backup's stored file, as stored (bearer token: it is the whole
//                              database; or ?ticket= from a download link)
//   POST /api/backups/ID/download-link  a one-use link to it, valid 60 s (bearer token): 201 {"url","expiresAt"}
//   GET  /metrics              Prometheus text format
//   POST /api/backups          start a backup (bearer token): 202 {"id"}
//   POST /api/restore-tests    start a restore test (bearer token): 202 {"id"}
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { downloadTickets, type DownloadTickets } from './download-tickets.js';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { ConfigError, PitrError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Listing } from '../repository/listing.js';
import type { JobView } from '../repository/job-history.js';
import type { StatusReport } from '../status/status.js';
import { authorize } from './bearer.js';

/** A value and when it was seen. */
export interface Known<T> {
  value: T;
  at: Date;
}

/** What the agent gives the routes. */
export interface ApiSources {
  status(): Known<StatusReport> | null;
  backups(): Promise<Known<Listing>>;
  history(limit: number): Promise<JobView[]>;
  /** Starts a job: its id, or null when one of its kind is already running or waiting. */
  start(kind: 'backup' | 'restore-test'): Promise<{ id: string } | null>;
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The .ready backlog at each health watch (oldest first; null where the database did not answer). */
  backlog(): { at: string; ready: number | null }[];
  /** A backup's stored file: null when there is no such backup. */
  download(id: string): Promise<{ name: string; size: number; stream: Readable } | null>;
}

export interface ApiServer {
  /** http://host:port, as bound. */
  url: string;
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const POST_JOBS: Record<string, 'backup' | 'restore-test'> = { '/api/backups': 'backup', '/api/restore-tests': 'restore-test' };

export async function startApiServer(o: {
  listen: { host: string; port: number };
  /** Read at each request: a reload (SIGHUP) may change it. */
  token: () => string | undefined;
  log: Logger;
  sources: ApiSources;
}): Promise<ApiServer> {
  const tickets = downloadTickets();
  const server = createServer((req, res) => {
    void handle(req, res, { ...o, tickets }).catch((err: unknown) => {
      // The repository failing (down, too slow, damaged) is 503 with pitr's one-line error,
      // which names the object and the fix and never a secret; anything else is a bug: 500.
      const status = err instanceof HttpError ? err.status : err instanceof PitrError ? 503 : 500;
      const path = withoutTicket(req.url ?? '/'); // a download link's ticket stays out of the log
      if (status >= 500) o.log.error({ err, path }, `HTTP ${req.method} ${path} failed: ${(err as Error).message}`);
      const message = err instanceof HttpError || err instanceof PitrError ? err.message : 'internal error: see the agent log';
      if (!res.headersSent) json(res, status, { error: message });
      else res.destroy();
    });
  });
  server.keepAliveTimeout = 5000;
  await listen(server, o.listen);
  const { address, port } = server.address() as AddressInfo;
  const url = `http://${address.includes(':') ? `[${address}]` : address}:${port}`;
  o.log.info({ url }, `serving the dashboard, API and metrics at ${url}`);
  return {
    url,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, at: { host: string; port: number }): Promise<void> {
  return new Promise((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) =>
      reject(
        new ConfigError(
          `cannot serve HTTP on ${at.host}:${at.port} (PITR_HTTP_LISTEN): ${err.code === 'EADDRINUSE' ? 'the port is in use (another agent?)' : err.message}: set PITR_HTTP_LISTEN to a free HOST:PORT, or off`,
        ),
      ),
    );
    server.listen(at.port, at.host, () => resolve());
  });
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  o: { token: () => string | undefined; sources: ApiSources; tickets: DownloadTickets },
): Promise<void> {
  let url: URL;
  try {
    url = new URL(req.url ?? '/', 'http://agent');
  } catch {
    throw new HttpError(400, 'the request target is not a path this agent serves');
  }
  const path = url.pathname.replace(/\/+$/, '') || '/';
  const { sources } = o;
  const download = /^\/api\/backups\/([A-Za-z0-9._-]+)\/(download|download-link)$/.exec(path);
  if (req.method === 'POST' && download?.[2] === 'download-link') {
    req.resume();
    needToken(req, res, o.token(), NO_DOWNLOADS);
    const { ticket, expiresAt } = o.tickets.issue(download[1]!, o.token()!);
    json(res, 201, { url: `/api/backups/${download[1]}/download?ticket=${ticket}`, expiresAt: expiresAt.toISOString() });
    return;
  }
  if (req.method === 'POST') {
    const kind = POST_JOBS[path];
    if (!kind) throw new HttpError(path in ROUTES ? 405 : 404, `no POST route ${path}`);
    req.resume(); // no body is read
    needToken(req, res, o.token());
    const started = await sources.start(kind);
    if (!started) throw new HttpError(409, `a ${kind} is already running or waiting: see /api/history`);
    json(res, 202, started);
    return;
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') throw new HttpError(405, `${req.method} is not served`);
  if (download?.[2] === 'download') {
    const ticket = url.searchParams.get('ticket');
    if (ticket === null) needToken(req, res, o.token(), NO_DOWNLOADS);
    else if (req.method === 'HEAD') {
      res.setHeader('Allow', 'GET');
      throw new HttpError(405, 'a download link is for one GET: HEAD would spend it');
    } else if (!o.tickets.redeem(ticket, download[1]!, o.token()))
      throw new HttpError(403, 'this download link has expired or was used already: ask the dashboard for a new one');
    const file = await sources.download(download[1]!);
    if (!file) throw new HttpError(404, `no backup ${download[1]}: see /api/backups`);
    res.writeHead(200, {
      'Content-Type': 'application/octet-stream',
      'Content-Length': file.size,
      'Content-Disposition': `attachment; filename="${file.name}"`,
      'Cache-Control': 'no-store',
    });
    if (req.method === 'HEAD') {
      file.stream.destroy();
      res.end();
      return;
    }
    await pipeline(file.stream, res);
    return;
  }
  const asset = ASSETS[path];
  if (asset) {
    serveAsset(req, res, asset);
    return;
  }
  const route = ROUTES[path];
  if (!route) throw new HttpError(404, `no route ${path}`);
  await route(res, sources, url.searchParams);
}

function withoutTicket(url: string): string {
  // Node's parser lets through targets that URL refuses (//x:99999/): this runs in the error handler and must not throw.
  return url.replace(/([?&])ticket=[^&#]*/gi, '$1ticket=…');
}

const NO_DOWNLOADS = 'the API has no PITR_HTTP_TOKEN, so backups cannot be downloaded over HTTP';

function needToken(
  req: IncomingMessage,
  res: ServerResponse,
  token: string | undefined,
  readOnly = 'the API is read-only: the agent has no PITR_HTTP_TOKEN',
): void {
  const auth = authorize(req.headers.authorization, token);
  if (auth === 'missing') {
    res.setHeader('WWW-Authenticate', 'Bearer');
    throw new HttpError(401, 'this route needs Authorization: Bearer <PITR_HTTP_TOKEN>');
  }
  if (auth === 'wrong') throw new HttpError(403, "the bearer token is not the agent's (PITR_HTTP_TOKEN)");
  if (auth === 'read-only') throw new HttpError(403, readOnly);
}

// The dashboard: static files, read once. From the source tree they sit next to this file;
// bundled, scripts/build.mjs copies them to dist/dashboard/ (this code is in dist/ or a chunk under it).
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
};
const CSP =
  "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'";
const assetCache = new Map<string, Buffer>();

function assetDir(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const found = [join(here, 'dashboard'), join(here, '..', 'dashboard')].find((d) => existsSync(join(d, 'index.html')));
  if (!found)
    throw new Error(`the dashboard's files are not installed (looked in ${here}/dashboard and ${here}/../dashboard): rebuild pitr`);
  return found;
}

function serveAsset(req: IncomingMessage, res: ServerResponse, asset: { file: string; type: string }): void {
  let body = assetCache.get(asset.file);
  if (!body) {
    body = readFileSync(join(assetDir(), asset.file));
    assetCache.set(asset.file, body);
  }
  res.writeHead(200, {
    'Content-Type': asset.type,
    'Content-Length': body.length,
    'Cache-Control': 'no-cache',
    'Content-Security-Policy': CSP,
    'X-Content-Type-Options': 'nosniff',
    'Referrer-Policy': 'no-referrer',
  });
  res.end(req.method === 'HEAD' ? undefined : body);
}

type Route = (res: ServerResponse, sources: ApiSources, query: URLSearchParams) => Promise<void> | void;

const ROUTES: Record<string, Route> = {
  '/healthz': (res, sources) => {
    const last = sources.status();
    json(res, 200, { status: 'ok', lastWatch: last?.at.toISOString() ?? null, ageSeconds: last ? ageOf(last.at) : null });
  },
  '/api/status': (res, sources) => {
    const last = sources.status();
    if (!last) {
      res.setHeader('Retry-After', '5');
      throw new HttpError(503, 'no health watch has ended yet: try again in a few seconds');
    }
    res.setHeader('Age', String(ageOf(last.at)));
    json(res, 200, last.value, { kept: true });
  },
  '/api/backups': async (res, sources) => {
    const known = await sources.backups();
    res.setHeader('Age', String(ageOf(known.at)));
    json(res, 200, known.value, { kept: true });
  },
  '/api/history': async (res, sources, query) => {
    const limit = Number(query.get('limit') ?? 50);
    if (!Number.isInteger(limit) || limit < 1 || limit > 2000) throw new HttpError(400, 'limit must be a whole number from 1 to 2000');
    json(res, 200, { jobs: await sources.history(limit) });
  },
  '/api/wal-backlog': (res, sources) => {
    json(res, 200, { samples: sources.backlog() });
  },
  '/metrics': async (res, sources) => {
    const { contentType, body } = await sources.metrics();
    res.writeHead(200, { 'Content-Type': contentType, 'Cache-Control': 'no-store' });
    res.end(body);
  },
  // The POST routes' paths, so that a GET of them is a 405 only where a GET is meaningless.
  '/api/restore-tests': () => {
    throw new HttpError(405, 'POST starts a restore test; GET /api/history lists them');
  },
};

const ageOf = (at: Date) => Math.max(0, Math.round((Date.now() - at.getTime()) / 1000));

/**
 * The JSON text of a value the agent keeps (the last status, the listing), made once per value:
 * 20 clients asking for a 600 KiB listing would otherwise each build their own copy, and the
 * agent's memory would grow with the request rate. The values are replaced, never changed.
 */
const serialized = new WeakMap<object, Buffer>();

function json(res: ServerResponse, status: number, body: unknown, o: { kept?: boolean } = {}): void {
  let bytes = o.kept && typeof body === 'object' && body !== null ? serialized.get(body) : undefined;
  if (!bytes) {
    bytes = Buffer.from(JSON.stringify(body));
    if (o.kept && typeof body === 'object' && body !== null) serialized.set(body, bytes);
  }
  res.writeHead(status, {
    'Content-Type': 'application/json; charset=utf-8',
    'Cache-Control': 'no-store',
    'Content-Length': bytes.length,
  });
  res.end(bytes);
}
