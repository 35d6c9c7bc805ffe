// Encryption at rest end to end, with both repository kinds: a server archives (its resident
// archiver included) and a backup is taken encrypted to a public key, on a host that holds no
// identity; what is stored, `age -d | lz4 -d` turns back into the original; a restore to a time
// with the identity replays (the prefetcher decrypting) and the rows are checked; wal-fetch
// without the identity, with a wrong one, or of a tampered object stops recovery (above 125)
// and writes nothing; pushes in the clear or to other keys are refused and store nothing;
// verify, list and status need no key; a key rotation sends new objects to both keys while
// the old identity still reads the old ones; no key material reaches a log or a written file.
import { execa } from 'execa';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest, giveToPostgres, pitr, tempDir } from '../../tools/harness/env.js';
import { Cluster } from '../../tools/harness/postgres.js';
import { archivingInto, fileRepo, readStored, s3Repo, writeStored, type RepoFixture } from '../support/repos.js';
import { backupThenBurst, recoverCopy } from '../support/burst.js';
import { restoreStarted } from '../support/restores.js';
import { useS3Store } from '../support/s3.js';

const s3 = useS3Store();

const NOW_UTC = "SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24:MI:SS.US') || '+00'";
const segKey = (name: string) => `wal/${name.slice(0, 16)}/${name}`;

interface Key {
  file: string;
  recipient: string;
  secret: string;
}

async function newKey(dir: string, name: string): Promise<Key> {
  const file = join(dir, `${name}.txt`);
  await execa('age-keygen', ['-o', file]);
  await giveToPostgres(file);
  const text = await readFile(file, 'utf8');
  return { file, recipient: /public key: (age1\S+)/.exec(text)![1]!, secret: /^AGE-SECRET-KEY-1\S+$/m.exec(text)![0] };
}

/** `age -d -i identity object | lz4 -d`: the emergency path of docs/encryption.md, by the real programs. */
async function decryptByHand(identity: string, object: Buffer, compressed = true): Promise<Buffer> {
  const { stdout } = await execa('bash', ['-c', `age -d -i ${identity} ${compressed ? '| lz4 -d -c' : ''}`], {
    input: object,
    encoding: 'buffer',
    stripFinalNewline: false,
  });
  return Buffer.from(stdout);
}

describe.each(['file', 's3'] as const)('encryption at rest, %s repository', (kind) => {
  let repo: RepoFixture;
  let primary: Cluster;
  let keyDir: string;
  let work: string;
  let a: Key, b: Key, stranger: Key;
  /** Segments archived before the rotation, and one after. */
  let before: string;
  let after: string;
  let backupId: string;
  const started: Cluster[] = [];
  const outputs: string[] = [];
  const marks = { t1: '' };

  const run = async (args: string[], env: Record<string, string> = {}) => {
    const res = await pitr(args, { env: { ...repo.env, ...primary.libpqEnv, ...env }, cwd: primary.dataDir });
    outputs.push(res.stdout, res.stderr);
    return res;
  };
  /** The repository's config file: what the database host has (recipients, no identity). */
  const hostConfig = async (recipients: string[]) =>
    writeFile(
      repo.configFile,
      `${Object.entries({ ...repo.env, PITR_ENCRYPT_RECIPIENTS: recipients.join(',') })
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\n`,
    );
  const ids = async (c: Cluster) => (await c.query<{ id: number }>('SELECT id FROM marks ORDER BY id')).map((r) => r.id);

  beforeAll(async () => {
    keyDir = await tempDir('keys');
    work = await tempDir('work');
    [a, b, stranger] = [await newKey(keyDir, 'a'), await newKey(keyDir, 'b'), await newKey(keyDir, 'stranger')];
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3());
    await hostConfig([a.recipient]);
    primary = await Cluster.create({ conf: archivingInto(repo) });
    const init = await run(['--config', repo.configFile, 'init', '--pgdata', primary.dataDir]);
    expect(init.exitCode, init.stderr).toBe(0);
    expect(init.stdout).toMatch(/encrypted to sha256:[0-9a-f]{16}/);
    await primary.start();
    await primary.query('CREATE TABLE marks (id int PRIMARY KEY, pad text)');
    await primary.query("INSERT INTO marks SELECT 1, repeat('x', 1000)");
    const backup = await run(['--config', repo.configFile, 'backup', '--json']);
    expect(backup.exitCode, backup.stderr).toBe(0);
    backupId = (JSON.parse(backup.stdout) as { id: string }).id;
    await primary.query('INSERT INTO marks VALUES (2)');
    marks.t1 = await primary.one<string>(NOW_UTC);
    await primary.query('INSERT INTO marks VALUES (3)');
    before = await primary.switchWal();
    await primary.waitArchived(before);
  });
  afterAll(async () => {
    for (const server of started) await server.stop('immediate');
    await primary?.stop('immediate');
  });

  it('records the recipients by fingerprint only, and stores every object as an age file that age -d | lz4 -d reads', async () => {
    const recorded = (await readStored(repo, s3(), 'repository.json'))!.toString();
    expect(JSON.parse(recorded)).toMatchObject({ encryption: { format: 'age', recipients: [expect.stringMatching(/^sha256:/)] } });
    expect(recorded).not.toContain(a.recipient);

    // A segment: the bytes age and lz4 give back are the ones wal-fetch gives back with the identity.
    const object = (await readStored(repo, s3(), segKey(before)))!;
    expect(object.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');
    const byHand = await decryptByHand(a.file, object);
    expect(byHand.length).toBe(16 * 1024 * 1024);
    const dest = join(work, 'RECOVERYXLOG');
    const fetched = await run(['wal-fetch', before, dest], { PITR_ENCRYPT_IDENTITY_FILE: a.file });
    expect(fetched.exitCode, fetched.stderr).toBe(0);
    expect(digest(await readFile(dest))).toBe(digest(byHand));

    // The backup: an age file of the lz4 tar; tar lists PostgreSQL's files from it.
    const manifest = JSON.parse((await readStored(repo, s3(), `backups/${backupId}/manifest.json`))!.toString()) as {
      files: { key: string; encryption?: string }[];
    };
    expect(manifest.files[0]).toMatchObject({ key: `backups/${backupId}/base.tar.lz4.age`, encryption: 'age' });
    const tar = await decryptByHand(a.file, (await readStored(repo, s3(), manifest.files[0]!.key))!);
    const listing = await execa('tar', ['-t'], { input: tar });
    expect(listing.stdout.split('\n')).toEqual(expect.arrayContaining(['PG_VERSION', 'backup_label', 'backup_manifest']));

    // The backup history file: encrypted too, its text also in the clear header (list and backup read it without a key).
    const walDir = kind === 'file' ? join(repo.dir!, 'wal', before.slice(0, 16)) : null;
    const names = walDir ? await readdir(walDir) : [];
    const history = kind === 'file' ? names.find((n) => n.endsWith('.backup'))! : null;
    if (history) {
      const text = await decryptByHand(a.file, (await readStored(repo, s3(), segKey(history)))!);
      expect(text.toString()).toContain(`LABEL: pitr ${backupId}`);
    }
  });

  it('restores to a time with the identity: recovery decrypts every segment, the rows are those committed by then', async () => {
    const { server, result, dir } = await restoreStarted(
      ['--config', repo.configFile, '--encrypt-identity-file', a.file],
      ['--to', marks.t1, '--archive-mode', 'off'],
      { ...repo.env, ...primary.libpqEnv },
    );
    outputs.push(result.stdout, result.stderr);
    started.push(server);
    expect(await ids(server)).toEqual([1, 2]);
    // The identity's path, never its content, is in the restored server's configuration.
    const conf = await readFile(join(dir, 'postgresql.auto.conf'), 'utf8');
    expect(conf).toContain(a.file);
    outputs.push(conf, await server.log());
  });

  it('refuses a restore without the identity, or with a wrong one, before writing anything', async () => {
    for (const [env, code, message] of [
      [{}, 15, /is encrypted: set PITR_ENCRYPT_IDENTITY_FILE/],
      [{ PITR_ENCRYPT_IDENTITY_FILE: stranger.file }, 15, /encrypted to other keys than this identity's/],
    ] as const) {
      const dir = join(await tempDir('restore'), 'data');
      const res = await run(['--config', repo.configFile, 'restore', '--target-dir', dir, '--latest'], env);
      expect(res.exitCode, res.stderr).toBe(code);
      expect(res.stderr).toMatch(message);
      expect(
        res.stderr
          .trim()
          .split('\n')
          .filter((line) => /"level":50/.test(line)),
      ).toHaveLength(1);
      expect(existsSync(dir)).toBe(false);
    }
  });

  it('wal-fetch with no identity, a wrong one, or of a tampered object exits above 125 and writes nothing', async () => {
    const dest = join(work, 'FETCHED');
    const noKey = await run(['wal-fetch', before, dest]);
    expect(noKey.exitCode, noKey.stderr).toBe(215);
    expect(noKey.stderr).toMatch(/is encrypted: set PITR_ENCRYPT_IDENTITY_FILE/);
    const wrong = await run(['wal-fetch', before, dest], { PITR_ENCRYPT_IDENTITY_FILE: stranger.file });
    expect(wrong.exitCode, wrong.stderr).toBe(215);
    expect(wrong.stderr).toMatch(/encrypted to other keys than this identity's/);
    expect(existsSync(dest)).toBe(false);

    // A flipped byte in the payload: verify names it without a key, wal-fetch refuses it (the chunk tags, unit-tested, would too).
    const object = (await readStored(repo, s3(), segKey(before)))!;
    const tampered = Buffer.from(object);
    tampered.writeUInt8(tampered.readUInt8(tampered.length - 1000) ^ 1, tampered.length - 1000);
    await writeStored(repo, s3(), segKey(before), tampered);
    try {
      const verify = await run(['verify', '--json']);
      expect(verify.exitCode, 'verify names it without a key').toBe(12);
      expect(verify.stdout).toContain(before);
      const res = await run(['wal-fetch', before, dest], { PITR_ENCRYPT_IDENTITY_FILE: a.file });
      expect(res.exitCode, res.stderr).toBe(206);
      expect(existsSync(dest)).toBe(false);
    } finally {
      await writeStored(repo, s3(), segKey(before), object);
    }
  });

  it('refuses a push in the clear or to other keys, storing nothing; an identical re-push is recognised without a key', async () => {
    const segment = join(work, before);
    const fetched = await run(['wal-fetch', before, segment], { PITR_ENCRYPT_IDENTITY_FILE: a.file });
    expect(fetched.exitCode, fetched.stderr).toBe(0);
    const stored = digest(await readStored(repo, s3(), segKey(before)));
    const clear = await run(['wal-push', segment]);
    expect(clear.exitCode, clear.stderr).toBe(15);
    expect(clear.stderr).toMatch(/is encrypted .*set PITR_ENCRYPT_RECIPIENTS/);
    const others = await run(['wal-push', segment], { PITR_ENCRYPT_RECIPIENTS: stranger.recipient });
    expect(others.exitCode, others.stderr).toBe(15);
    expect(others.stderr).toMatch(/are not the recipients repository .* records/);
    const same = await run(['--log-level', 'info', 'wal-push', segment], { PITR_ENCRYPT_RECIPIENTS: a.recipient });
    expect(same.exitCode, same.stderr).toBe(0);
    expect(same.stderr).toContain('already archived with identical content');
    // Compressed otherwise than stored: compressed the stored way, it is still recognised.
    const uncompressed = await run(['--log-level', 'info', 'wal-push', segment], {
      PITR_ENCRYPT_RECIPIENTS: a.recipient,
      PITR_COMPRESS: 'none',
    });
    expect(uncompressed.exitCode, uncompressed.stderr).toBe(0);
    expect(digest(await readStored(repo, s3(), segKey(before)))).toBe(stored);
  });

  it('lists, verifies and reports status without any key', async () => {
    const list = await run(['list', '--json']);
    expect(list.exitCode, list.stderr).toBe(0);
    const listed = JSON.parse(list.stdout) as { backups: { id: string; walComplete: boolean }[]; window: unknown };
    expect(listed.backups.map((x) => [x.id, x.walComplete])).toEqual([[backupId, true]]);
    const verify = await run(['verify']);
    expect(verify.exitCode, verify.stdout + verify.stderr).toBe(0);
    const status = await run(['status']);
    expect(status.exitCode, status.stdout).toBe(0);
    expect(status.stdout).toMatch(/^encryption +age, to sha256:[0-9a-f]{16} \(since /m);
  });

  it('rotates keys: new objects go to both keys, the old identity still reads the old ones', async () => {
    await hostConfig([a.recipient, b.recipient]);
    const refused = await run(['--config', repo.configFile, 'init']);
    expect(refused.exitCode).toBe(15);
    expect(refused.stderr).toMatch(/pitr init --change-recipients/);
    const changed = await run(['--config', repo.configFile, 'init', '--change-recipients']);
    expect(changed.exitCode, changed.stderr).toBe(0);
    expect(changed.stdout).toMatch(/encrypted to sha256:\w+, sha256:\w+ from now on/);

    await primary.query('INSERT INTO marks VALUES (4)');
    after = await primary.switchWal();
    await primary.waitArchived(after);
    const dest = join(work, 'ROTATED');
    for (const [name, key, code] of [
      [after, b, 0],
      [after, a, 0],
      [before, a, 0],
      [before, b, 215],
    ] as const) {
      const res = await run(['wal-fetch', name, dest], { PITR_ENCRYPT_IDENTITY_FILE: key.file });
      expect(res.exitCode, `${name} with ${key === a ? 'a' : 'b'}: ${res.stderr}`).toBe(code);
    }

    // An identity file with both keys restores across the rotation.
    const both = join(keyDir, 'both.txt');
    await writeFile(both, `# a, then b\n${a.secret}\n${b.secret}\n`, { mode: 0o600 });
    await giveToPostgres(both);
    const { server, result } = await restoreStarted(
      ['--config', repo.configFile, '--encrypt-identity-file', both],
      ['--latest', '--archive-mode', 'off'],
      { ...repo.env, ...primary.libpqEnv },
    );
    outputs.push(result.stdout, result.stderr);
    started.push(server);
    expect(await ids(server)).toEqual([1, 2, 3, 4]);
    outputs.push(await server.log());
  });

  it('keeps a timeline history readable without a key, and encrypted', async () => {
    // A history file pushed by hand (a promotion's): list follows it without a key; age reads its payload.
    const text = `1\t0/${(0x10000000).toString(16).toUpperCase()}\tno recovery target specified\n`;
    const path = join(work, '00000009.history');
    await writeFile(path, text);
    const pushed = await run(['wal-push', path], { PITR_ENCRYPT_RECIPIENTS: `${a.recipient},${b.recipient}` });
    expect(pushed.exitCode, pushed.stderr).toBe(0);
    const object = (await readStored(repo, s3(), 'wal/00000009.history'))!;
    expect((await decryptByHand(b.file, object)).toString()).toBe(text);
    const list = await run(['list', '--json']);
    expect(list.exitCode, list.stderr).toBe(0);
  });

  it('lets no key material reach a log, an error, an output or a written file', async () => {
    const written = [
      await primary.log(),
      await readFile(repo.configFile, 'utf8'),
      (await readStored(repo, s3(), 'repository.json'))!.toString(),
    ];
    for (const text of [...outputs, ...written]) {
      expect(text).not.toMatch(/AGE-SECRET-KEY-1/);
      for (const key of [a, b, stranger]) expect(text).not.toContain(key.secret.slice(16));
    }
  });
});

describe.each(['file', 's3'] as const)('the resident archiver and the prefetcher, encrypted, %s repository', (kind) => {
  let repo: RepoFixture;
  let primary: Cluster;
  let copy: Cluster | undefined;
  let key: Key;

  beforeAll(async () => {
    const keyDir = await tempDir('keys');
    key = await newKey(keyDir, 'only');
    repo = kind === 'file' ? await fileRepo() : await s3Repo(s3());
    await writeFile(
      repo.configFile,
      `${Object.entries({ ...repo.env, PITR_ENCRYPT_RECIPIENTS: key.recipient })
        .map(([k, v]) => `${k}=${v}`)
        .join('\n')}\n`,
    );
    // 1 MiB segments: a burst of real segments for the look-ahead and the spool.
    primary = await Cluster.create({ initdbArgs: ['--wal-segsize=1'], conf: archivingInto(repo) });
    await primary.start();
  });
  afterAll(async () => {
    await copy?.stop('immediate');
    await primary?.stop('immediate');
  });

  it('archives a burst ahead of PostgreSQL and replays it mostly from the spool, every object encrypted', async () => {
    const { backupDir, last } = await backupThenBurst(primary);
    expect(await primary.one<string>('SELECT failed_count::text FROM pg_stat_archiver')).toBe('0');
    const archived = (await primary.log())
      .split('\n')
      .filter((l) => l.includes('"via":"bin/pitr"') && l.includes('archived earlier (look-ahead)'));
    expect(archived.length, 'calls answered from the archiver’s records').toBeGreaterThan(10);
    const object = (await readStored(repo, s3(), segKey(last)))!;
    expect(object.subarray(0, 22).toString()).toBe('age-encryption.org/v1\n');

    copy = await recoverCopy(backupDir, repo.restoreCommand.replace(' wal-fetch ', ` --encrypt-identity-file ${key.file} wal-fetch `));
    const restored = copy;
    expect(await restored.one<string>('SELECT count(*)::text FROM t')).toBe(String(30 * 500));
    const log = await restored.log();
    const served = log.split('\n').filter((l) => l.includes('restored (prefetched)') && l.includes('"via":"bin/pitr"')).length;
    expect(served, 'segments the prefetcher decrypted into the spool').toBeGreaterThan(10);
    expect(log).not.toMatch(/FATAL|PANIC|AGE-SECRET-KEY/);
  });
});
