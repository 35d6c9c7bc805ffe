// Crash injection for the tests of killed writers: a storage decorator, chosen when storage is
// opened with PITR_TEST_CRASH set (storage/open.ts imports this file only then), so the
// drivers hold no test code. Each mode leaves exactly what a kill -9 or a power loss at that
// point leaves, at a point a test can rely on, then SIGKILLs its own process:
//
//   mid-write   a put dies half-way: file:// keeps a temporary file with half the bytes
//               beside the object (what a sweep removes); S3 receives half the body of a
//               PutObject whose Content-Length promised all of it (s3rver keeps that part
//               under the real key: the cut-off object readers must recognise)
//   mid-stream  a streamed write (a base backup) dies after 1 MiB
//   lookahead   the resident archiver dies after storing a file, before recording it
//   expire-after-N-deletes
//               a command dies once it has deleted N objects (delete and deleteMany count
//               each key; a batch is cut off after the Nth key): an expire killed mid-way
import { closeSync, constants as fsc, fsyncSync, mkdirSync, openSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { ConfigError } from '../errors.js';
import type { Storage } from './storage.js';

export type CrashMode = 'mid-write' | 'mid-stream' | 'lookahead';
/** Who opened the storage: some modes aim at one process only. */
export type StorageUser = 'resident-archiver' | 'command';

/** Streamed writes crash after this many bytes (their total is not known up front). */
const STREAM_CRASH_AFTER = 1024 * 1024;

export async function withInjectedCrash(storage: Storage, mode: string, user: StorageUser): Promise<Storage> {
  const deletes = /^expire-after-(\d+)-deletes$/.exec(mode);
  if (deletes) return user === 'command' ? crashAfterDeletes(storage, Number(deletes[1])) : storage;
  switch (mode as CrashMode) {
    case 'mid-write':
      return decorate(storage, { put: await cutOffPut(storage) });
    case 'mid-stream':
      return decorate(storage, { putStream: (key, body) => storage.putStream(key, body.pipe(crashAfter(STREAM_CRASH_AFTER))) });
    case 'lookahead':
      if (user !== 'resident-archiver') return storage;
      return decorate(storage, {
        put: async (key, body, options) => {
          await storage.put(key, body, options);
          if (key.startsWith('wal/')) crashNow(); // stored, not yet recorded
        },
      });
    default:
      throw new ConfigError(`PITR_TEST_CRASH=${mode} is not a crash mode: mid-write, mid-stream, lookahead or expire-after-N-deletes`);
  }
}

/** Deletes go through until `limit` keys are gone, then the process dies. */
function crashAfterDeletes(storage: Storage, limit: number): Storage {
  let deleted = 0;
  const allowed = (keys: readonly string[]) => keys.slice(0, Math.max(0, limit - deleted));
  return decorate(storage, {
    delete: async (key) => {
      if (deleted >= limit) crashNow();
      await storage.delete(key);
      deleted++;
    },
    deleteMany: async (keys) => {
      const some = allowed(keys);
      await storage.deleteMany(some);
      deleted += some.length;
      if (some.length < keys.length) crashNow();
    },
  });
}

/** The driver with some methods replaced; everything else is the driver's own. */
function decorate(storage: Storage, overrides: Partial<Storage>): Storage {
  return new Proxy(storage, {
    get(target, prop, receiver) {
      if (Object.hasOwn(overrides, prop)) return (overrides as Record<string | symbol, unknown>)[prop];
      const value = Reflect.get(target, prop, receiver) as unknown;
      return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
    },
  });
}

async function cutOffPut(storage: Storage): Promise<Storage['put']> {
  if (storage.localPath) {
    const { tempPathFor } = await import('./file.js');
    return async (key, body) => {
      const path = storage.localPath!(key);
      mkdirSync(dirname(path), { recursive: true });
      const fd = openSync(tempPathFor(path), fsc.O_WRONLY | fsc.O_CREAT | fsc.O_EXCL, 0o640);
      writeSync(fd, body, 0, body.length >> 1);
      fsyncSync(fd);
      closeSync(fd);
      crashNow();
    };
  }
  const { S3Storage } = await import('./s3.js');
  if (!(storage instanceof S3Storage)) throw new ConfigError('PITR_TEST_CRASH=mid-write: no way to cut off a write to this store');
  // The request as the driver builds it (signed, Content-Length of the whole body), with a
  // body that stops half-way and a process that dies with the request still open.
  storage.client.middlewareStack.add(
    (next, context) => async (args) => {
      const request = args.request as { body?: unknown };
      if (context.commandName === 'PutObjectCommand' && Buffer.isBuffer(request.body)) {
        const whole = request.body;
        request.body = Readable.from(
          (async function* () {
            yield whole.subarray(0, whole.length >> 1);
            await new Promise((resolve) => setTimeout(resolve, 50));
            crashNow();
          })(),
        );
      }
      return next(args);
    },
    { step: 'finalizeRequest', name: 'pitrCutOffPut' },
  );
  return (key, body, options) => storage.put(key, body, options);
}

/** For streamed writes: a pass-through that SIGKILLs the process once `afterBytes` have passed. */
function crashAfter(afterBytes: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _enc, done) {
      seen += chunk.length;
      if (seen > afterBytes) crashNow();
      done(null, chunk);
    },
  });
}

function crashNow(): never {
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable: SIGKILL did not stop the process');
}
