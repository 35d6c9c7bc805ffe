// wal-push and wal-fetch against both repository kinds, on real WAL files: duplicates,
// conflicts, every archivable file kind, missing files, corruption, another cluster's
// repository, a push killed mid-write, and links planted where wal-fetch writes.
import { execa } from 'execa';
import { spawnSync } from 'node:child_process';
import { copyFile, lstat, mkdir, readdir, readFile, readlink, symlink, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { compressFrameSync } from 'lz4-napi';
import { decodeHeader, encodeObject, sha256, type ObjectMeta } from '../../src/codec/object-format.js';
import { digest, pitr, tempDir } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { fileRepo, readStored, s3Repo, writeStored, type RepoFixture } from '../support/repos.js';
import { startS3Store, type S3Store } from '../../tools/harness/s3.js';
import { makeSegments, type SegmentSource } from '../support/segments.js';

let s3: S3Store;
let source: SegmentSource;
let other: Cluster;

beforeAll(async () => {
  [s3, source, other] = await Promise.all([startS3Store(), makeSegments(3), Cluster.create()]);
});
afterAll(async () => {
  await source?.cluster.stop('immediate');
  await s3?.stop();
});

const segKey = (name: string) => `wal/${name.slice(0, 16)}/${name}`;

describe.each(['file', 's3'] as const)('%s repository', (kind) => {
  let repo: RepoFixture;
  let work: string;
  // At info: some tests read what the push did from its log line.
  const push = (path: string, env: Record<string, string> = {}) =>
    pitr(['wal-push', path], { env: { PITR_LOG_LEVEL: 'info', ...repo.env, ...env }, cwd: source.cluster.dataDir });
  const fetch = (name: string, dest: string) => pitr(['wal-fetch', name, dest], { env: repo.env, cwd: source.cluster.dataDir });

  beforeEach(async () => {
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3);
    work = await tempDir('work');
    // Each test's repository is new to a cluster that has archived before: bound by hand, as
    // it must be (a push never binds an empty repository then: archive/archived-into.ts).
    const init = await pitr(['init', '--pgdata', source.cluster.dataDir], { env: repo.env });
    expect(init.exitCode, init.stderr).toBe(0);
  });

  it('round-trips a segment byte for byte, and an identical re-push exits 0 without rewriting', async () => {
    const seg = source.segments[0]!;
    const first = await push(seg);
    expect(first.exitCode, first.stderr).toBe(0);
    const stored = await readStored(repo, s3, segKey(basename(seg)));
    expect(stored).not.toBeNull();

    const again = await push(seg);
    expect(again.exitCode).toBe(0);
    expect(again.stderr).toContain('already archived with identical content');
    expect(digest(await readStored(repo, s3, segKey(basename(seg))))).toBe(digest(stored));

    const dest = join(work, 'RECOVERYXLOG');
    const fetched = await fetch(basename(seg), dest);
    expect(fetched.exitCode, fetched.stderr).toBe(0);
    expect(digest(await readFile(dest))).toBe(digest(await readFile(seg)));
  });

  it("says nothing on success by default (PostgreSQL's log would get a line per segment), and logs at info when asked", async () => {
    const [seg, next] = [source.segments[0]!, source.segments[1]!];
    const quiet = { env: repo.env, cwd: source.cluster.dataDir };
    const pushed = await pitr(['wal-push', seg], quiet);
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    expect(pushed.stderr).toBe('');
    const fetched = await pitr(['wal-fetch', basename(seg), join(work, 'RECOVERYXLOG')], quiet);
    expect(fetched.exitCode, fetched.stderr).toBe(0);
    expect(fetched.stderr).toBe('');

    const byFlag = await pitr(['--log-level', 'info', 'wal-push', next], quiet);
    expect(byFlag.exitCode).toBe(0);
    expect(JSON.parse(byFlag.stderr)).toMatchObject({ level: 30, cmd: 'wal-push', wal: basename(next), msg: 'archived' });
    const byEnv = await pitr(['wal-fetch', basename(next), join(work, 'RECOVERYXLOG')], {
      ...quiet,
      env: { ...repo.env, PITR_LOG_LEVEL: 'info' },
    });
    expect(JSON.parse(byEnv.stderr)).toMatchObject({ level: 30, cmd: 'wal-fetch', wal: basename(next), msg: 'restored' });
  });

  it('refuses different bytes under an archived segment name and leaves the stored copy untouched', async () => {
    const seg = source.segments[0]!;
    expect((await push(seg)).exitCode).toBe(0);
    const stored = await readStored(repo, s3, segKey(basename(seg)));

    const forged = join(work, basename(seg));
    const bytes = await readFile(seg);
    bytes[100_000] = bytes[100_000]! ^ 0xff; // past the page header: still a valid-looking segment
    await writeFile(forged, bytes);
    const res = await push(forged);
    expect(res.exitCode).toBe(4);
    expect(res.stderr).toContain('different content');
    expect(digest(await readStored(repo, s3, segKey(basename(seg))))).toBe(digest(stored));

    const dest = join(work, 'out');
    expect((await fetch(basename(seg), dest)).exitCode).toBe(0);
    expect(digest(await readFile(dest))).toBe(digest(await readFile(seg)));
  });

  it('compares a re-push with a copy stored another way: the same bytes exit 0, others are refused', async () => {
    const seg = source.segments[0]!;
    const key = segKey(basename(seg));
    expect((await push(seg)).exitCode).toBe(0);
    const bytes = await readFile(seg);
    const { meta } = decodeHeader((await readStored(repo, s3, key))!, key);
    const forged = join(work, basename(seg));
    const changed = Buffer.from(bytes);
    changed[100_000] = changed[100_000]! ^ 0xff;
    await writeFile(forged, changed);
    // Compressed with other frame options (as another lz4 version might): other payload bytes,
    // no checksum of the original, so only reading it back can tell.
    const payload = compressFrameSync(bytes, { contentChecksum: true });
    const other: ObjectMeta = { ...meta, payloadSize: payload.length, payloadSha256: sha256(payload) };
    // Written before payloads had a checksum: compared by the original's SHA-256.
    const { payloadSha256: _, ...rest } = meta;
    const older: ObjectMeta = { ...rest, sha256: sha256(bytes) };
    for (const object of [
      encodeObject(other, payload),
      encodeObject(older, (await readStored(repo, s3, key))!.subarray(-meta.payloadSize)),
    ]) {
      await writeStored(repo, s3, key, object);
      const same = await push(seg);
      expect(same.exitCode, same.stderr).toBe(0);
      expect(same.stderr).toContain('already archived with identical content');
      const different = await push(forged);
      expect(different.exitCode).toBe(4);
      expect(different.stderr).toContain('different content');
      expect(digest(await readStored(repo, s3, key))).toBe(digest(object)); // untouched
    }
  });

  it('applies the same rule to .history files: identical exits 0, different is refused', async () => {
    const history = join(work, '00000002.history');
    await writeFile(history, '1\t0/3000000\tno recovery target specified\n');
    expect((await push(history)).exitCode).toBe(0);
    expect((await push(history)).exitCode).toBe(0);
    const otherDir = join(work, 'other');
    await mkdir(otherDir);
    await writeFile(join(otherDir, '00000002.history'), '1\t0/4000000\tno recovery target specified\n');
    const res = await push(join(otherDir, '00000002.history'));
    expect(res.exitCode).toBe(4);
    const dest = join(work, 'RECOVERYHISTORY');
    expect((await fetch('00000002.history', dest)).exitCode).toBe(0);
    expect(await readFile(dest, 'utf8')).toBe('1\t0/3000000\tno recovery target specified\n');
  });

  it('archives .partial and .backup files and fetches them back exactly', async () => {
    const seg = source.segments[1]!;
    const partial = join(work, `${basename(seg)}.partial`);
    await copyFile(seg, partial);
    const backup = join(work, `${basename(seg)}.00000028.backup`);
    await writeFile(backup, `START WAL LOCATION: 0/${basename(seg).slice(-2)}000028 (file ${basename(seg)})\nLABEL: test\n`);
    for (const file of [partial, backup]) {
      const res = await push(file);
      expect(res.exitCode, res.stderr).toBe(0);
      const dest = join(work, `fetched-${basename(file)}`);
      expect((await fetch(basename(file), dest)).exitCode).toBe(0);
      expect(digest(await readFile(dest))).toBe(digest(await readFile(file)));
    }
  });

  it('lists archived WAL per timeline and reports the gap where a segment is missing', async () => {
    const [a, b, c] = source.segments;
    expect((await push(a!)).exitCode).toBe(0);
    expect((await push(c!)).exitCode).toBe(0);
    const list = await pitr(['list', '--json'], { env: repo.env });
    expect(list.exitCode, list.stderr).toBe(0);
    const { wal } = JSON.parse(list.stdout);
    expect(wal[0]).toMatchObject({ timeline: 1, first: basename(a!), last: basename(c!), segments: 2 });
    expect(wal[0].gaps).toEqual([{ from: basename(b!), to: basename(b!), missing: 1 }]);
    const text = await pitr(['list'], { env: repo.env });
    expect(text.stdout).toContain(`missing ${basename(b!)}`);
  });

  it('reports a missing WAL file with its path and a non-zero exit', async () => {
    const missing = join(work, '0000000100000000000000AA');
    const res = await push(missing);
    expect(res.exitCode).toBe(8);
    expect(res.stderr).toContain(missing);
    expect(res.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('answers "not found" with exit 1 and nothing on stderr', async () => {
    expect((await push(source.segments[0]!)).exitCode).toBe(0);
    const dest = join(work, 'RECOVERYXLOG');
    const res = await fetch('0000000100000000000000FE', dest);
    expect(res.exitCode).toBe(1);
    expect(res.stderr).toBe('');
    expect(await readdir(work)).toEqual([]);
  });

  it('refuses a corrupted stored object with an exit above 125 and writes nothing at dest', async () => {
    const seg = source.segments[0]!;
    expect((await push(seg)).exitCode).toBe(0);
    const key = segKey(basename(seg));
    const stored = (await readStored(repo, s3, key))!;
    const damaged = Buffer.from(stored);
    damaged[damaged.length - 100] = damaged[damaged.length - 100]! ^ 0x55;
    await writeStored(repo, s3, key, damaged);

    const res = await fetch(basename(seg), join(work, 'RECOVERYXLOG'));
    expect(res.exitCode).toBe(206);
    expect(res.stderr).toMatch(/corrupted/);
    expect(await readdir(work)).toEqual([]);
  });

  it("reads an object written without a payload checksum by checking the original's SHA-256", async () => {
    const seg = source.segments[1]!;
    expect((await push(seg)).exitCode).toBe(0);
    const key = segKey(basename(seg));
    const stored = (await readStored(repo, s3, key))!;
    const { meta, headerLength } = decodeHeader(stored, key);
    expect(meta.payloadSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(meta.sha256).toBeUndefined(); // the original is not hashed on push
    const { payloadSha256: _, ...rest } = meta;
    const older = { ...rest, sha256: sha256(await readFile(seg)) };
    const dest = join(work, 'RECOVERYXLOG');

    await writeStored(repo, s3, key, encodeObject(older, stored.subarray(headerLength)));
    const res = await fetch(basename(seg), dest);
    expect(res.exitCode, res.stderr).toBe(0);
    expect(digest(await readFile(dest))).toBe(digest(await readFile(seg)));

    // Without the payload's checksum, the original's is what catches damage.
    await writeStored(repo, s3, key, encodeObject({ ...older, sha256: '0'.repeat(64) }, stored.subarray(headerLength)));
    const bad = await fetch(basename(seg), join(work, 'OTHER'));
    expect(bad.exitCode).toBe(206);
    expect(bad.stderr).toMatch(/corrupted/);
  });

  it('refuses WAL and init from another cluster once the repository is bound', async () => {
    expect((await push(source.segments[0]!)).exitCode).toBe(0);
    const before = digest(await readStored(repo, s3, segKey('000000010000000000000001')));
    const foreign = join(other.dataDir, 'pg_wal', '000000010000000000000001');
    const res = await pitr(['wal-push', foreign], { env: repo.env, cwd: other.dataDir });
    expect(res.exitCode).toBe(3);
    expect(res.stderr).toContain('belongs to cluster');
    expect(res.stderr).toContain('PITR_REPO');
    // The foreign segment has the same name as the first archived one: that copy is untouched.
    expect(digest(await readStored(repo, s3, segKey('000000010000000000000001')))).toBe(before);

    const init = await pitr(['init', '--pgdata', other.dataDir], { env: repo.env });
    expect(init.exitCode).toBe(3);
    const same = await pitr(['init', '--pgdata', source.cluster.dataDir], { env: repo.env });
    expect(same.exitCode, same.stderr).toBe(0);
    expect(same.stdout).toContain('already initialised');
  });

  it('leaves no readable object when a push is killed mid-write, and the next push succeeds', async () => {
    expect((await push(source.segments[0]!)).exitCode).toBe(0); // binds the repository
    const seg = source.segments[2]!;
    const killed = await push(seg, { PITR_TEST_CRASH: 'mid-write' });
    expect(killed.signal).toBe('SIGKILL');
    const dest = join(work, 'RECOVERYXLOG');
    // Nothing readable: no object (file://, S3), or on stores that keep a cut-off upload
    // (s3rver does) an object that fails verification and is never handed to PostgreSQL.
    const afterKill = await fetch(basename(seg), dest);
    expect([1, 206]).toContain(afterKill.exitCode);
    expect(await readdir(work)).toEqual([]);
    if (kind === 'file') expect(await readStored(repo, s3, segKey(basename(seg)))).toBeNull();

    const retry = await push(seg);
    expect(retry.exitCode, retry.stderr).toBe(0);
    expect((await fetch(basename(seg), dest)).exitCode).toBe(0);
    expect(digest(await readFile(dest))).toBe(digest(await readFile(seg)));
  });
});

describe('emergency access without pitr', () => {
  it('stores objects that plain `lz4 -d` decodes to the original segment', async () => {
    const repo = await fileRepo();
    const work = await tempDir('work');
    const seg = source.segments[0]!;
    expect((await pitr(['wal-push', seg], { env: repo.env })).exitCode).toBe(0);
    const out = join(work, 'decoded');
    await execa('lz4', ['-d', '-f', join(repo.dir!, segKey(basename(seg))), out]);
    expect(digest(await readFile(out))).toBe(digest(await readFile(seg)));
  });
});

describe('links planted next to the destination of wal-fetch', () => {
  it('are never written through: the file they point at keeps its bytes, and the destination gets the segment', async () => {
    const repo = await fileRepo();
    const seg = source.segments[0]!;
    expect((await pitr(['wal-push', seg], { env: repo.env })).exitCode).toBe(0);
    const victim = join(await tempDir('victim'), 'pg_hba.conf');
    await writeFile(victim, 'precious\n');
    // A directory someone else can write (PostgreSQL's pg_wal, to restore_command run as root).
    const dir = await tempDir('pg_wal');
    const dest = join(dir, 'RECOVERYXLOG');
    // The temporary name used to be `<dest>.pitr-<pid>.tmp`: a link at it for each of the next
    // few thousand pids catches the pid wal-fetch will run as; and a few other plausible names.
    const pidMax = Number(await readFile('/proc/sys/kernel/pid_max', 'utf8'));
    const next = spawnSync('true').pid!;
    const planted = [`${dest}.tmp`, `${dest}.pitr.tmp`, join(dir, '.RECOVERYXLOG.tmp'), `${dest}.pitr-${process.pid}.tmp`];
    for (let i = 1; i <= 4000; i++) planted.push(`${dest}.pitr-${(next + i) % pidMax}.tmp`);
    await Promise.all(planted.map((path) => symlink(victim, path)));

    const res = await pitr(['wal-fetch', basename(seg), dest], { env: repo.env, cwd: source.cluster.dataDir });
    expect(res.exitCode, res.stderr).toBe(0);
    expect(await readFile(victim, 'utf8')).toBe('precious\n');
    expect((await lstat(dest)).isFile()).toBe(true); // not a planted link renamed into place
    expect(digest(await readFile(dest))).toBe(digest(await readFile(seg)));
    // Every link is still there, untouched, and nothing else was left behind.
    expect((await readdir(dir)).sort()).toEqual([...planted.map((p) => basename(p)), 'RECOVERYXLOG'].sort());
    for (const path of planted.slice(0, 4)) expect(await readlink(path)).toBe(victim);
  });
});
