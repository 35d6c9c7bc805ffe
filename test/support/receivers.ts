// Real receivers on 127.0.0.1 for the notification tests: an HTTP server that records each POST
// (a webhook, or Slack) and answers with a status the test sets, and an SMTP server that records
// each message. Every wait resolves on arrival and fails with a message saying what was missing.
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

const DEFAULT_WAIT_MS = 30_000;

/** Calls that resolve once `count()` reaches n: the shared waiting of both receivers. */
class Arrivals<T> {
  private readonly waiters = new Set<{ n: number; resolve: () => void }>();
  constructor(
    private readonly what: string,
    readonly items: T[],
  ) {}

  add(item: T): void {
    this.items.push(item);
    for (const waiter of [...this.waiters]) if (this.items.length >= waiter.n) waiter.resolve();
  }

  /** The first n items, once they are there; rejects after timeoutMs naming how many came. */
  waitFor(n: number, timeoutMs = DEFAULT_WAIT_MS): Promise<T[]> {
    if (this.items.length >= n) return Promise.resolve(this.items.slice(0, n));
    return new Promise((resolve, reject) => {
      const waiter = {
        n,
        resolve: () => {
          clearTimeout(timer);
          this.waiters.delete(waiter);
          resolve(this.items.slice(0, n));
        },
      };
      const timer = setTimeout(() => {
        this.waiters.delete(waiter);
        reject(new Error(`${this.what}: ${n} expected, ${this.items.length} arrived within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.add(waiter);
    });
  }
}

export interface ReceivedRequest {
  method: string;
  /** The path and query the request was sent to. */
  path: string;
  headers: IncomingHttpHeaders;
  /** The body parsed as JSON, or the text when it is not JSON. */
  body: unknown;
  /** The status the receiver answered with. */
  status: number;
  /** performance.now() when the request arrived. */
  at: number;
}

export interface WebhookReceiver {
  /** http://127.0.0.1:PORT/PATH, the path a secret-looking token (override with `path`). */
  readonly url: string;
  readonly port: number;
  /** Every request so far, in order of arrival, failed ones (status >= 300) included. */
  readonly received: ReceivedRequest[];
  /** The next request not yet returned by next(), once it has arrived. */
  next(timeoutMs?: number): Promise<ReceivedRequest>;
  /** The first n requests, once n have arrived. */
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  /** The status the following requests are answered with. */
  setStatus(code: number): void;
  /** Stops listening and drops open connections: the port refuses from then on. */
  close(): Promise<void>;
}

export async function startWebhookReceiver(options: { status?: number; path?: string } = {}): Promise<WebhookReceiver> {
  let status = options.status ?? 200;
  const arrivals = new Arrivals<ReceivedRequest>('webhook requests', []);
  const server = createServer((req, res) => {
    const at = performance.now();
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // Not JSON: kept as text.
      }
      const answered = status;
      res.writeHead(answered, { 'content-type': 'text/plain' });
      res.end(answered < 300 ? 'ok' : `receiver answers ${answered}`);
      arrivals.add({ method: req.method ?? '', path: req.url ?? '', headers: req.headers, body, status: answered, at });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  let taken = 0;
  let closed: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}${options.path ?? `/hooks/T0/B0/${randomBytes(12).toString('hex')}`}`,
    port,
    received: arrivals.items,
    async next(timeoutMs) {
      const index = taken++;
      return (await arrivals.waitFor(index + 1, timeoutMs))[index]!;
    },
    waitFor: (n, timeoutMs) => arrivals.waitFor(n, timeoutMs),
    setStatus(code) {
      status = code;
    },
    close() {
      closed ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        // fetch keeps connections alive: without this, close() would wait for them to time out.
        server.closeAllConnections();
      });
      return closed;
    },
  };
}

export interface ReceivedMail {
  /** The envelope's sender and recipients. */
  from: string;
  to: string[];
  /** The user the client authenticated as, if it did. */
  user?: string;
  subject: string;
  /** The plain-text body, decoded, with \n line ends. */
  text: string;
  /** The message as it arrived. */
  raw: string;
}

export interface SmtpReceiver {
  /** smtp://[user:pass@]127.0.0.1:PORT */
  readonly url: string;
  readonly port: number;
  readonly messages: ReceivedMail[];
  waitFor(n: number, timeoutMs?: number): Promise<ReceivedMail[]>;
  close(): Promise<void>;
}

/** With `user` (and `pass`), the server accepts mail only after AUTH with exactly those. */
export async function startSmtpReceiver(options: { user?: string; pass?: string } = {}): Promise<SmtpReceiver> {
  const arrivals = new Arrivals<ReceivedMail>('e-mails', []);
  const server = new SMTPServer({
    authOptional: options.user === undefined,
    allowInsecureAuth: true,
    disabledCommands: ['STARTTLS'],
    logger: false,
    closeTimeout: 1000,
    onAuth(auth, _session, callback) {
      if (options.user !== undefined && auth.username === options.user && auth.password === (options.pass ?? ''))
        callback(null, { user: auth.username });
      else callback(new Error('Invalid username or password'));
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const { mailFrom, rcptTo } = session.envelope;
        arrivals.add({
          from: mailFrom ? mailFrom.address : '',
          to: rcptTo.map((r) => r.address),
          user: typeof session.user === 'string' ? session.user : undefined,
          ...parseMessage(raw),
          raw,
        });
        callback(null, 'queued');
      });
    },
  });
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.server.address() as AddressInfo;
  const credentials = options.user === undefined ? '' : `${encodeURIComponent(options.user)}:${encodeURIComponent(options.pass ?? '')}@`;
  let closed: Promise<void> | undefined;
  return {
    url: `smtp://${credentials}127.0.0.1:${port}`,
    port,
    messages: arrivals.items,
    waitFor: (n, timeoutMs) => arrivals.waitFor(n, timeoutMs),
    close() {
      closed ??= new Promise<void>((resolve) => server.close(() => resolve()));
      return closed;
    },
  };
}

/** Subject and plain-text body of a single-part message as nodemailer writes one. */
function parseMessage(raw: string): { subject: string; text: string } {
  const split = raw.indexOf('\r\n\r\n');
  const head = split < 0 ? raw : raw.slice(0, split);
  const body = split < 0 ? '' : raw.slice(split + 4);
  // Unfold continued header lines, then index them by lower-case name.
  const headers = new Map<string, string>();
  for (const line of head.replace(/\r\n[ \t]+/g, ' ').split('\r\n')) {
    const colon = line.indexOf(':');
    if (colon > 0) headers.set(line.slice(0, colon).trim().toLowerCase(), line.slice(colon + 1).trim());
  }
  const encoding = (headers.get('content-transfer-encoding') ?? '7bit').toLowerCase();
  const text =
    encoding === 'quoted-printable'
      ? decodeQuotedPrintable(body)
      : encoding === 'base64'
        ? Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8')
        : body;
  return { subject: decodeEncodedWords(headers.get('subject') ?? ''), text: text.replace(/\r\n/g, '\n') };
}

function decodeQuotedPrintable(text: string): string {
  const s = text.replace(/=\r?\n/g, '');
  const bytes: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const hex = s.slice(i + 1, i + 3);
    if (s[i] === '=' && /^[0-9A-F]{2}$/i.test(hex)) {
      bytes.push(parseInt(hex, 16));
      i += 2;
    } else bytes.push(s.charCodeAt(i) & 0xff); // quoted-printable text is ASCII apart from its =XX bytes
  }
  return Buffer.from(bytes).toString('utf8');
}

/** RFC 2047 words (=?UTF-8?Q?...?= and =?UTF-8?B?...?=), as nodemailer writes a non-ASCII subject. */
function decodeEncodedWords(text: string): string {
  return text
    .replace(/\?=\s+=\?/g, '?==?')
    .replace(/=\?([^?]+)\?([QB])\?([^?]*)\?=/gi, (_, _charset: string, kind: string, data: string) =>
      kind.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')),
    );
}
