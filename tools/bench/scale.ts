// Part `scale`: the commands that read a whole repository, on a repository of many WAL objects
// and backups (BENCH_SCALE_WAL, 100,000; BENCH_SCALE_BACKUPS, 200), file:// and S3 (s3rver):
// wall time and peak RSS of `list`, `expire --dry-run`, restore planning and `verify`, each
// as a whole process. Target: each under 10 s and 200 MiB.
//
// The repository is synthetic, written with pitr's own encoders and document writers: one
// timeline of consecutive 16 MiB segments, each stored as a small but whole and valid WAL
// object (compression none, a few hundred bytes: the listing is what scales, not the bytes),
// and the backups spread evenly along it, each with one small stored file whose size and
// SHA-256 its manifest records, so `verify` passes. Generation is not measured.
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { encodeObject, type ObjectMeta } from '../../src/codec/object-format.js';
import { backupDir, writeManifest, type BackupManifest } from '../../src/repository/backups.js';
import { bindIdentity } from '../../src/repository/identity.js';
import { walObjectKey } from '../../src/repository/layout.js';
import { FileStorage } from '../../src/storage/file.js';
import { S3Storage } from '../../src/storage/s3.js';
import type { Storage } from '../../src/storage/storage.js';
import { formatLsn, parseWalFileName } from '../../src/wal/names.js';
import { segmentFileName } from '../../src/wal/segments.js';
import { PITR_BIN, tempDir } from '../harness/env.js';
import { S3Server } from '../harness/s3.js';
import { quantile, say, table, timed, type Sample } from './common.js';

const SEGMENT_SIZE = 16 * 1024 * 1024;
const SYSTEM_IDENTIFIER = '7310123456789012345';
const PG_VERSION = 15;
/** WAL objects written to s3rver at once. */
const S3_PUTS_AT_ONCE = 64;
const TARGET_MS = 10_000;
const TARGET_RSS_MIB = 200;
const HOUR = 3_600_000;
const WATCH_TICKS = 5;

/**
 * `pitr agent` on the repository with every schedule off and a watch every 2 s, until it has
 * logged `count` watches (its debug line "health watch": wall ms, CPU ms, RSS). The database
 * is a closed port: the watch judges the repository, which is what grows.
 */
async function agentWatches(env: Record<string, string>, count: number): Promise<{ ms: number; cpuMs: number; rssMiB: number }[]> {
  const agent = spawn(PITR_BIN, ['agent'], {
    env: {
      ...process.env,
      ...env,
      PITR_LOG_LEVEL: 'debug',
      PITR_WATCH_INTERVAL: '2s',
      PITR_SCHEDULE_BACKUP: 'off',
      PITR_SCHEDULE_VERIFY: 'off',
      PITR_SCHEDULE_RESTORE_TEST: 'off',
      PGHOST: '127.0.0.1',
      PGPORT: '9',
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const ticks: { ms: number; cpuMs: number; rssMiB: number }[] = [];
  let tail = '';
  try {
    await new Promise<void>((resolve, reject) => {
      agent.stderr.setEncoding('utf8').on('data', (chunk: string) => {
        const lines = (tail + chunk).split('\n');
        tail = lines.pop()!;
        for (const line of lines) {
          if (!line.includes('"msg":"health watch"')) continue;
          ticks.push(JSON.parse(line) as { ms: number; cpuMs: number; rssMiB: number });
          if (ticks.length >= count) resolve();
        }
      });
      agent.once('exit', (code) => reject(new Error(`pitr agent exited (${code}) after ${ticks.length} watches: ${tail.slice(-500)}`)));
    });
  } finally {
    agent.kill('SIGTERM');
  }
  // The first watch also loads the modules it needs and reads the whole repository (the agent
  // keeps what cannot have changed, repository/kept-reads.ts): the steady cost is the rest.
  return ticks;
}

/** What the generated repository holds, for the commands' arguments and their checks. */
interface Model {
  walCount: number;
  /** Oldest first (stop times increase with the index). */
  backups: BackupManifest[];
  /** Backup id -> its stored file's bytes. */
  backupFiles: Map<string, Buffer>;
  /** When segment `segno`'s transactions ended (ms since the epoch): backup j's first segment about its stop time. */
  segmentTime: (segno: number) => number;
  /** Times inside the restorable window: after the newest backup (the usual restore), and between two in the middle. */
  restoreTargets: { label: string; time: string }[];
}

export async function benchScale(walCount: number, backupCount: number): Promise<void> {
  if (!(walCount >= 4 * backupCount && backupCount >= 2))
    throw new Error(`BENCH_SCALE_WAL (${walCount}) must be at least 4 x BENCH_SCALE_BACKUPS (${backupCount}), which must be at least 2`);
  const work = await tempDir('bench-scale');
  const fileRoot = join(work, 'repo');
  await mkdir(fileRoot, { mode: 0o750 });
  const s3 = await S3Server.start();
  try {
    const model = buildModel(walCount, backupCount, new Date());
    const { bucket, env: s3Env } = await s3.newRepo();
    const prefix = 'main'; // as newRepo's PITR_REPO (s3://bucket/main)

    say(`scale: writing ${walCount} WAL objects and ${backupCount} backups to file://${fileRoot} ...`);
    let t0 = Date.now();
    const fileStorage = await FileStorage.open(fileRoot, false);
    await writeDocuments(fileStorage, model);
    writeWalFiles(fileRoot, model);
    say(`scale: file:// written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);

    say(`scale: writing the same to s3rver (${S3_PUTS_AT_ONCE} PutObject at once) ...`);
    t0 = Date.now();
    // pitr's S3 driver takes its credentials from the environment, as in production.
    const saved = { id: process.env.AWS_ACCESS_KEY_ID, secret: process.env.AWS_SECRET_ACCESS_KEY };
    process.env.AWS_ACCESS_KEY_ID = s3Env.AWS_ACCESS_KEY_ID;
    process.env.AWS_SECRET_ACCESS_KEY = s3Env.AWS_SECRET_ACCESS_KEY;
    const s3Storage = new S3Storage(bucket, prefix, {
      endpoint: s3.endpoint,
      region: 'us-east-1',
      forcePathStyle: true,
      checksum: 'when_required',
      atomicWrites: true,
      maxAttempts: 3,
      connectTimeoutMs: 3000,
      requestTimeoutMs: 60_000,
    });
    await writeDocuments(s3Storage, model);
    await writeWalObjects(s3Storage, model, S3_PUTS_AT_ONCE, (done) => {
      const s = (Date.now() - t0) / 1000;
      say(`scale: s3rver ${done}/${model.walCount} WAL objects, ${s.toFixed(0)} s (${(done / s).toFixed(0)}/s)`);
    });
    say(`scale: s3rver written in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const [k, v] of [
      ['AWS_ACCESS_KEY_ID', saved.id],
      ['AWS_SECRET_ACCESS_KEY', saved.secret],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }

    const stores: [string, Record<string, string>][] = [
      ['file://', { PITR_REPO: `file://${fileRoot}` }],
      ['s3 (s3rver)', s3Env],
    ];
    const rows: { op: string; store: string; s: Sample }[] = [];
    const watchRows: string[][] = [];
    const facts: string[] = [];
    for (const [store, repoEnv] of stores) {
      const env = { ...repoEnv, PITR_LOG_LEVEL: 'warn' };
      const run = (op: string, args: string[], extra: Record<string, string> = {}) => {
        say(`scale: ${store} ${op} ...`);
        const s = timed(PITR_BIN, args, { ...env, ...extra }, work);
        rows.push({ op, store, s });
        return s;
      };

      const list = run('list --json', ['list', '--json']);
      const listed = parseJson<{ backups: { walComplete: boolean }[]; restorableWindow: { from: string; to: string } | null }>(
        list,
        'list',
      );
      if (listed.backups.length !== backupCount || !listed.backups.every((b) => b.walComplete) || !listed.restorableWindow)
        throw new Error(`list of ${store} does not show ${backupCount} restorable backups and a window: ${list.stdout.slice(0, 500)}`);
      facts.push(
        `${store} list: ${listed.backups.length} backups, window ${listed.restorableWindow.from} .. ${listed.restorableWindow.to}`,
      );

      const keep = Math.ceil(backupCount / 2);
      const expire = run(`expire --dry-run --json (FULL=${keep})`, ['expire', '--dry-run', '--json'], {
        PITR_RETENTION_FULL: String(keep),
      });
      const expired = parseJson<{ expired: unknown[]; wal: { files: number } }>(expire, 'expire --dry-run');
      facts.push(`${store} expire --dry-run: would delete ${expired.expired.length} backups and ${expired.wal.files} WAL files`);

      for (const target of model.restoreTargets) {
        say(`scale: ${store} restore --to ${target.label} (planning) ...`);
        const plan = await timedUntil(
          PITR_BIN,
          ['restore', '--log-level', 'info', '--target-dir', join(work, `restore-${rows.length}`), '--to', target.time],
          env,
          work,
          '"msg":"restore planned"',
        );
        rows.push({ op: `restore --to ${target.label}: until "restore planned"`, store, s: plan.sample });
        if (!plan.line) throw new Error(`restore of ${store} did not plan: ${plan.sample.stderr.slice(-800)}`);
        const planned = JSON.parse(plan.line) as { backup: string; segments: number };
        facts.push(`${store} restore --to ${target.time}: planned from backup ${planned.backup}, ${planned.segments} segments checked`);
      }

      const newest = model.backups.at(-1)!.id;
      for (const [op, args] of [
        [`verify --backup <newest>`, ['verify', '--json', '--backup', newest]],
        ['verify (all)', ['verify', '--json']],
      ] as const) {
        const s = run(op, [...args]);
        const report = parseJson<{ result: string; objects: { checked: number; bytes: number } }>(s, op);
        if (report.result !== 'passed') throw new Error(`${op} of ${store} did not pass: ${s.stdout.slice(0, 800)}`);
        facts.push(`${store} ${op}: ${report.objects.checked} objects, ${(report.objects.bytes / 1048576).toFixed(1)} MiB read, passed`);
      }

      say(`scale: ${store} pitr agent, ${WATCH_TICKS} health watches ...`);
      const [first, ...ticks] = await agentWatches(env, WATCH_TICKS + 1);
      const median = (xs: number[]) =>
        quantile(
          [...xs].sort((a, b) => a - b),
          0.5,
        );
      watchRows.push([
        store,
        first!.ms.toFixed(0),
        median(ticks.map((t) => t.ms)).toFixed(0),
        Math.max(...ticks.map((t) => t.ms)).toFixed(0),
        median(ticks.map((t) => t.cpuMs)).toFixed(0),
        Math.max(...ticks.map((t) => t.rssMiB)).toFixed(0),
      ]);
    }

    say();
    say(`Repository of ${walCount} WAL objects and ${backupCount} backups; target: under ${TARGET_MS / 1000} s and ${TARGET_RSS_MIB} MiB`);
    say();
    table(
      ['operation', 'store', 'wall s', 'peak RSS MiB', 'target met'],
      rows.map(({ op, store, s }) => {
        const mib = s.rssKiB / 1024;
        const over = [s.ms >= TARGET_MS ? 'time' : '', mib > TARGET_RSS_MIB ? 'RSS' : ''].filter(Boolean);
        return [op, store, (s.ms / 1000).toFixed(1), mib.toFixed(0), over.length === 0 ? 'yes' : `no (${over.join(', ')})`];
      }),
    );
    say();
    say(
      `pitr agent's health watch on that repository (everything status judges, the database unreachable), the first and ${WATCH_TICKS} more`,
    );
    say();
    table(['store', 'first watch ms', 'then median ms', 'max ms', 'median CPU ms', 'peak RSS MiB'], watchRows);
    say();
    for (const f of facts) say(`- ${f}`);
  } finally {
    await s3.stop();
    if (!process.env.BENCH_KEEP) await rm(work, { recursive: true, force: true });
  }
}

/**
 * Segments 1..walCount of timeline 1. Backup j (of n) starts in segment 2 + j x walCount / n
 * and stops in the next; backups stop an hour apart, the newest ten minutes ago, so the WAL
 * (archived now, as far as the store's times say) reaches past every one of them.
 */
function buildModel(walCount: number, backupCount: number, now: Date): Model {
  const backups: BackupManifest[] = [];
  const backupFiles = new Map<string, Buffer>();
  const newestStop = now.getTime() - 10 * 60_000;
  for (let j = 0; j < backupCount; j++) {
    const startSeg = BigInt(2 + Math.floor((j * walCount) / backupCount));
    const stopTime = new Date(newestStop - (backupCount - 1 - j) * HOUR);
    const startTime = new Date(stopTime.getTime() - 5 * 60_000);
    const id = `${startTime
      .toISOString()
      .replace(/[-:]/g, '')
      .replace(/\.\d+Z$/, 'Z')}-${(j & 0xffff).toString(16).padStart(4, '0')}`;
    const body = Buffer.from(`pitr scale benchmark: the stored file of backup ${id}\n`.repeat(8));
    const key = `${backupDir(id)}base.tar`;
    backupFiles.set(id, body);
    backups.push({
      format: 1,
      id,
      label: `pitr ${id}`,
      pitrVersion: 'bench',
      systemIdentifier: SYSTEM_IDENTIFIER,
      pgVersion: PG_VERSION,
      timeline: 1,
      startLsn: formatLsn(startSeg * BigInt(SEGMENT_SIZE) + 0x28n),
      stopLsn: formatLsn((startSeg + 1n) * BigInt(SEGMENT_SIZE) + 0x100n),
      startWal: segmentFileName(1, startSeg, SEGMENT_SIZE),
      stopWal: segmentFileName(1, startSeg + 1n, SEGMENT_SIZE),
      startTime: startTime.toISOString(),
      stopTime: stopTime.toISOString(),
      durationMs: 5 * 60_000,
      files: [
        {
          key,
          name: 'base.tar',
          compression: 'none',
          size: body.length,
          storedSize: body.length,
          storedSha256: createHash('sha256').update(body).digest('hex'),
        },
      ],
    });
  }
  // Five minutes after the newest backup's stop: the usual restore, from it. Then half an hour
  // after the stop of the backup just below the middle: restore starts from it and checks the
  // WAL from there to the newest segment (half the repository).
  const middle = backups[Math.floor(backupCount / 2) - 1]!;
  const restoreTargets = [
    { label: 'after the newest backup', time: new Date(Date.parse(backups.at(-1)!.stopTime) + 5 * 60_000).toISOString() },
    { label: 'from the middle backup', time: new Date(Date.parse(middle.stopTime) + HOUR / 2).toISOString() },
  ];
  const segmentTime = (segno: number) => newestStop - (backupCount - 1) * HOUR + ((segno - 2) * HOUR * backupCount) / walCount;
  return { walCount, backups, backupFiles, restoreTargets, segmentTime };
}

/** repository.json (pitr's bind), each backup's stored file, then its manifest (pitr's writer). */
/** A file:// repository of `walCount` WAL objects and `backupCount` backups at `root` (the `api` part uses it too). */
export async function writeFileRepository(root: string, walCount: number, backupCount: number): Promise<void> {
  const model = buildModel(walCount, backupCount, new Date());
  await writeDocuments(await FileStorage.open(root, false), model);
  writeWalFiles(root, model);
}

async function writeDocuments(storage: Storage, model: Model): Promise<void> {
  await bindIdentity(
    storage,
    { systemIdentifier: SYSTEM_IDENTIFIER, pgVersion: PG_VERSION, walSegmentSize: SEGMENT_SIZE },
    'bench',
    'the scale benchmark',
  );
  await inBatches(model.backups, 16, async (b) => {
    await storage.put(b.files[0].key, model.backupFiles.get(b.id)!);
    await writeManifest(storage, b);
  });
}

/** WAL object `i` (segment i + 1 of timeline 1): its key and bytes, as wal-push stores a file with compression none. */
function walObject(i: number, model: Model): { key: string; body: Buffer } {
  const segno = i + 1;
  const name = segmentFileName(1, BigInt(segno), SEGMENT_SIZE);
  // Transactions all through, at the pace the backups' stop times set (as wal-push records them).
  const at = (ms: number, offset: number) => ({
    time: `${new Date(model.segmentTime(segno) + ms).toISOString().slice(0, -1)}000Z`,
    lsn: formatLsn(BigInt(segno) * BigInt(SEGMENT_SIZE) + BigInt(offset)),
  });
  const payload = Buffer.from(`synthetic WAL ${name} for the pitr scale benchmark\n`.repeat(4));
  const sha256 = createHash('sha256').update(payload).digest('hex');
  // Compression none: the payload is the original file, so size is its length and both checksums are the same.
  const meta: ObjectMeta = {
    v: 1,
    name,
    size: payload.length,
    compression: 'none',
    payloadSize: payload.length,
    payloadSha256: sha256,
    sha256,
    transactionEnds: { first: at(0, 0x100), last: at(1000, SEGMENT_SIZE - 0x100) },
  };
  return { key: walObjectKey(parseWalFileName(name)!), body: encodeObject(meta, payload) };
}

/**
 * The WAL objects straight into the directory: pitr's FileStorage fsyncs every file and its
 * directory, which for 100,000 files costs minutes and measures nothing here.
 */
function writeWalFiles(root: string, model: Model): void {
  const { walCount } = model;
  const made = new Set<string>();
  for (let i = 0; i < walCount; i++) {
    const { key, body } = walObject(i, model);
    const dir = join(root, key.slice(0, key.lastIndexOf('/')));
    if (!made.has(dir)) {
      mkdirSync(dir, { recursive: true, mode: 0o750 });
      made.add(dir);
    }
    writeFileSync(join(root, key), body, { mode: 0o640 });
  }
}

async function writeWalObjects(storage: Storage, model: Model, atOnce: number, progress: (done: number) => void): Promise<void> {
  const { walCount } = model;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < walCount) {
      const { key, body } = walObject(next++, model);
      await storage.put(key, body);
      if (++done % 10_000 === 0) progress(done);
    }
  };
  await Promise.all(Array.from({ length: atOnce }, worker));
}

async function inBatches<T>(items: T[], atOnce: number, each: (item: T) => Promise<void>): Promise<void> {
  for (let i = 0; i < items.length; i += atOnce) await Promise.all(items.slice(i, i + atOnce).map(each));
}

function parseJson<T>(s: Sample, what: string): T {
  if (s.code !== 0) throw new Error(`${what} exited ${s.code}: ${s.stderr.slice(-800)}`);
  return JSON.parse(s.stdout) as T;
}

/**
 * Runs a command as `timed` does, but stops it once a line of its stderr contains `marker`:
 * the wall time is until that line, the peak RSS the process's up to then (GNU time reports
 * it for a killed command too). The line's pid (pino's) is the process killed.
 */
function timedUntil(
  cmd: string,
  args: string[],
  env: Record<string, string>,
  cwd: string,
  marker: string,
  timeoutMs = 600_000,
): Promise<{ sample: Sample; line: string | null }> {
  return new Promise((resolve, reject) => {
    const start = process.hrtime.bigint();
    const child = spawn('/usr/bin/time', ['-f', '%M', cmd, ...args], { env: { ...process.env, ...env }, cwd });
    let stdout = '';
    let stderr = '';
    let pending = '';
    let line: string | null = null;
    let ms = 0;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.stdout.on('data', (c: Buffer) => (stdout += c.toString()));
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
      pending += c.toString();
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const l of lines) {
        if (line !== null || !l.includes(marker)) continue;
        ms = Number(process.hrtime.bigint() - start) / 1e6;
        line = l;
        const pid = (JSON.parse(l) as { pid?: number }).pid;
        if (pid) process.kill(pid, 'SIGKILL');
      }
    });
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (line === null) ms = Number(process.hrtime.bigint() - start) / 1e6;
      const rssLine = stderr.trim().split('\n').at(-1) ?? '0';
      resolve({ sample: { ms, rssKiB: Number(rssLine) || 0, code: code ?? -1, stdout, stderr }, line });
    });
  });
}
