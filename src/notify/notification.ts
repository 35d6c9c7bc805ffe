// What a notification says, whatever carries it: the webhook posts this object as JSON; Slack
// and e-mail render it as text (slack.ts, email.ts) from the lines below.

export interface Notification {
  /** What happened, e.g. 'archiving-failing', 'backup-failed', 'test'. */
  event: string;
  status: 'failing' | 'recovered';
  /** The history kind or check name: 'backup', 'archiving', 'verify', 'restore-test', 'repository', 'test'. */
  job: string;
  host: string;
  /** The repository URL as Storage.url shows it: never credentials. */
  repo: string;
  /** What failed or recovered. */
  message: string;
  /** ISO time the failure began. */
  since?: string;
  /** What to do. */
  fix?: string;
  /** ISO time of the message. */
  time: string;
}

/** "FAILING: archiving on db1 (s3://bucket/x/)": the Slack headline and the e-mail subject. */
export function headline(n: Notification): string {
  // A test says so: "RECOVERED" would send a reader looking for what had failed.
  const word = n.event === 'test' ? 'TEST' : n.status.toUpperCase();
  return `${word}: ${n.job} on ${n.host} (${n.repo})`;
}

/** Every field but the headline's, labelled, one per line; absent ones left out. */
export function detailLines(n: Notification): string[] {
  const lines = [`What: ${n.message}`];
  if (n.since) lines.push(`Since: ${n.since}`);
  if (n.fix) lines.push(`What to do: ${n.fix}`);
  lines.push(`Status: ${n.status}`, `Job: ${n.job}`, `Host: ${n.host}`, `Repository: ${n.repo}`, `Event: ${n.event}`, `Time: ${n.time}`);
  return lines;
}

/** What `pitr notify --test` sends through every channel. */
export function testNotification(host: string, repo: string, now = new Date()): Notification {
  return {
    event: 'test',
    status: 'recovered',
    job: 'test',
    host,
    repo,
    message: 'pitr test notification: this channel works',
    time: now.toISOString(),
  };
}
