// Every JSON document read back from a repository is checked before use: a damaged one is an
// error of its own kind that names the object, never a TypeError or a wrong value later.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { decodeHeader } from '../../src/codec/object-format.js';
import { ExitCode } from '../../src/errors.js';
import { acquireBackupLock, LOCK_KEY } from '../../src/repository/backup-lock.js';
import { listBackups, writeManifest, type BackupManifest } from '../../src/repository/backups.js';
import { readIdentity } from '../../src/repository/identity.js';
import { FileStorage } from '../../src/storage/file.js';
import { tempDir } from '../../tools/harness/env.js';

async function repoWith(files: Record<string, string>): Promise<FileStorage> {
  const dir = await tempDir('docs');
  for (const [key, text] of Object.entries(files)) {
    await mkdir(join(dir, key, '..'), { recursive: true });
    await writeFile(join(dir, key), text);
  }
  return FileStorage.open(dir, false);
}

const manifest = {
  format: 1,
  id: '20261205T000000Z-abcd',
  label: 'x',
  pitrVersion: '0.1.0',
  systemIdentifier: '7312345678901234567',
  pgVersion: 15,
  timeline: 1,
  startLsn: '0/2000028',
  stopLsn: '0/2000100',
  startWal: '000000010000000000000002',
  stopWal: '000000010000000000000002',
  startTime: '2026-12-05T00:00:00.000Z',
  stopTime: '2026-12-05T00:00:01.000Z',
  durationMs: 1000,
  files: [{ key: 'backups/x/base.tar.lz4', name: 'base.tar', compression: 'lz4', size: 10, storedSize: 5, storedSha256: 'a'.repeat(64) }],
};

describe('stored JSON documents are validated', () => {
  it('reads a well-formed backup manifest', async () => {
    const storage = await repoWith({ [`backups/${manifest.id}/manifest.json`]: JSON.stringify(manifest) });
    const [backup] = await listBackups(storage);
    expect(backup?.files[0].storedSha256).toBe('a'.repeat(64));
  });

  it('refuses a manifest without files, naming the object and the field', async () => {
    const storage = await repoWith({ [`backups/${manifest.id}/manifest.json`]: JSON.stringify({ ...manifest, files: [] }) });
    const err = await listBackups(storage).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: ExitCode.integrity });
    expect(String((err as Error).message)).toMatch(new RegExp(`${manifest.id}/manifest.json is damaged \\(files[.:]`));
  });

  it('reads a manifest whose duration an older pitr measured on a wall clock that stepped back', async () => {
    const storage = await repoWith({ [`backups/${manifest.id}/manifest.json`]: JSON.stringify({ ...manifest, durationMs: -1200 }) });
    expect((await listBackups(storage)).map((b) => b.id)).toEqual([manifest.id]);
  });

  it('never stores a manifest its readers would refuse', async () => {
    const storage = await repoWith({});
    const bad = { ...manifest, files: [] } as unknown as BackupManifest;
    await expect(writeManifest(storage, bad)).rejects.toThrow(/manifest of backup .* is damaged \(files/);
    expect(await listBackups(storage)).toEqual([]);
  });

  it('refuses a manifest whose stop time is not a time', async () => {
    const storage = await repoWith({ [`backups/${manifest.id}/manifest.json`]: JSON.stringify({ ...manifest, stopTime: 'yesterday' }) });
    await expect(listBackups(storage)).rejects.toThrow(/stopTime: not an ISO 8601 time/);
  });

  it('refuses an identity with a wrong-typed system identifier as a repository mismatch', async () => {
    const identity = {
      format: 1,
      id: 'abcdef12-3456',
      systemIdentifier: 7312345678,
      pgVersion: 15,
      walSegmentSize: 16777216,
      createdAt: 'x',
      createdBy: 'y',
    };
    const storage = await repoWith({ 'repository.json': JSON.stringify(identity) });
    const err = await readIdentity(storage).catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: ExitCode.repositoryMismatch });
    expect(String((err as Error).message)).toMatch(/repository\.json is damaged \(systemIdentifier: /);
  });

  it('reads a cut-off identity as none, so the next bind rewrites it', async () => {
    const storage = await repoWith({ 'repository.json': '{"format": 1, "id": "abc' });
    expect(await readIdentity(storage)).toBeNull();
  });

  it('refuses to take a backup lock it cannot read', async () => {
    const storage = await repoWith({ [LOCK_KEY]: JSON.stringify({ id: 'x', pid: 'nine' }) });
    const err = await acquireBackupLock(storage, 'y').catch((e: unknown) => e);
    expect(err).toMatchObject({ exitCode: ExitCode.busy });
    expect(String((err as Error).message)).toMatch(/locks\/backup\.json is damaged .*remove it/);
  });

  it("reads an object header of a newer pitr's compression, so decoding can say to upgrade", () => {
    const json = Buffer.from(
      JSON.stringify({ v: 1, name: '00000002.history', size: 1, compression: 'zstd', payloadSize: 1, sha256: 'a'.repeat(64) }),
    );
    const head = Buffer.alloc(8 + json.length);
    head.writeUInt32LE(0x184d2a5e, 0);
    head.writeUInt32LE(json.length, 4);
    json.copy(head, 8);
    expect(decodeHeader(head, 'x').meta.compression).toBe('zstd');
  });

  it('refuses an object header without any checksum', () => {
    const json = Buffer.from(JSON.stringify({ v: 1, name: '00000002.history', size: 1, compression: 'none', payloadSize: 1 }));
    const head = Buffer.alloc(8 + json.length);
    head.writeUInt32LE(0x184d2a5e, 0);
    head.writeUInt32LE(json.length, 4);
    json.copy(head, 8);
    expect(() => decodeHeader(head, 'wal/00000002.history')).toThrow(/header is damaged .*no checksum/);
  });
});
