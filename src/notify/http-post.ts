// One JSON POST for the Slack and webhook channels: Node's fetch with a timeout, success only
// on a 2xx answer. The reasons it gives are one line and may still quote the URL: the channel
// scrubs them (scrub.ts).

/** POSTs `body` as JSON; throws an Error saying why it was not accepted. */
export async function postJson(url: string, body: unknown, timeoutMs: number): Promise<void> {
  const { target, headers } = withoutCredentials(url);
  let response: Response;
  try {
    response = await fetch(target, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
      // fetch would follow a 301/302 with a GET, whose 200 would count as delivered.
      redirect: 'manual',
    });
  } catch (err) {
    throw new Error(networkReason(err, target, timeoutMs), { cause: err });
  }
  if (response.status >= 200 && response.status < 300) {
    await response.body?.cancel();
    return;
  }
  const text = await response.text().catch(() => '');
  const excerpt = text.replace(/\s+/g, ' ').trim().slice(0, 200);
  const redirect = response.status >= 300 && response.status < 400 ? ' (a redirect: give the URL it leads to)' : '';
  throw new Error(`answered HTTP ${response.status}${redirect}${excerpt ? `: ${excerpt}` : ''}`);
}

/** fetch refuses URLs with user:password: they become a Basic Authorization header instead. */
function withoutCredentials(url: string): { target: string; headers: Record<string, string> } {
  const parsed = new URL(url);
  if (parsed.username === '' && parsed.password === '') return { target: url, headers: {} };
  const credentials = `${decodeURIComponent(parsed.username)}:${decodeURIComponent(parsed.password)}`;
  parsed.username = '';
  parsed.password = '';
  return { target: parsed.href, headers: { authorization: `Basic ${Buffer.from(credentials).toString('base64')}` } };
}

/** "connect ECONNREFUSED 127.0.0.1:9" rather than fetch's own "fetch failed". */
function networkReason(err: unknown, target: string, timeoutMs: number): string {
  const e = err as Error & { cause?: unknown };
  if (e?.name === 'TimeoutError' || e?.name === 'AbortError') return `no answer within ${timeoutMs / 1000} s`;
  const cause = e?.cause as (Error & { code?: string; errors?: Error[] }) | undefined;
  // The Fetch standard forbids some ports (1, 9, 25, 6000 ...): say so, not just "bad port".
  if (cause?.message === 'bad port')
    return `port ${new URL(target).port} is one that fetch refuses to use (the Fetch standard's "bad ports"): give the receiver another port`;
  if (cause) {
    // Several addresses tried (IPv4 and IPv6): an AggregateError with an empty message.
    const inner = cause.message || cause.errors?.map((x) => x.message).join('; ') || cause.code;
    if (inner) return inner;
  }
  return e?.message ?? String(err);
}
