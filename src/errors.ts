// Typed errors with stable exit codes. Every failure that reaches the user is one of these,
// so the CLI can print one line that names the object and the fix, and exit with a code
// scripts (and PostgreSQL) can act on. The table is documented in docs/exit-codes.md.

export const ExitCode = {
  ok: 0,
  /** wal-fetch only: the file is not in the repository (PostgreSQL probes for such files). */
  notFound: 1,
  usage: 2,
  repositoryMismatch: 3,
  archiveConflict: 4,
  storageUnavailable: 5,
  integrity: 6,
  busy: 7,
  input: 8,
  storage: 9,
  internal: 10,
  /** `pitr status`: the repository answered but something needs attention. */
  unhealthy: 11,
  /** `pitr verify`: a stored object is damaged or missing, or WAL has a gap. */
  verifyFailed: 12,
  /** `pitr restore-test`: the restored copy did not come up, or a check failed. */
  restoreTestFailed: 13,
  /** `pitr check`: a step of the set-up check failed (the step is named). */
  checkFailed: 14,
  /** An encrypted object, and no identity, or one that none of its recipients matches. */
  encryptionKey: 15,
  /** `pitr notify --test`: a notification channel did not accept the test message (each named). */
  notifyFailed: 16,
} as const;
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];

/**
 * wal-fetch adds this to every error code except "not found": PostgreSQL reads exit codes
 * 1-125 from restore_command as "file not found" and would end recovery early, silently
 * short of data; above 125 it stops recovery instead. 200+ avoids 128+N, which looks like
 * a signal (and 143 = 128+SIGTERM makes the startup process exit as if shut down).
 */
export const FETCH_FATAL_OFFSET = 200;

export class PitrError extends Error {
  constructor(
    message: string,
    readonly exitCode: ExitCodeValue,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = new.target.name;
  }
}

/** A PitrError subclass whose instances always carry `code`. */
function withExitCode(code: ExitCodeValue) {
  return class extends PitrError {
    constructor(message: string, cause?: unknown) {
      super(message, code, { cause });
    }
  };
}

/** What was asked for is not in the repository: a backup, an archived file, WAL a restore needs. */
export class NotFoundError extends withExitCode(ExitCode.notFound) {}
/** A bad flag, setting or config file. */
export class ConfigError extends withExitCode(ExitCode.usage) {}
/** The repository belongs to another cluster, or has a format this version cannot read. */
export class RepositoryMismatchError extends withExitCode(ExitCode.repositoryMismatch) {}
/** A file of the same name with different content is already archived. */
export class ArchiveConflictError extends withExitCode(ExitCode.archiveConflict) {}
/** The store could not be reached (after retries) or timed out. */
export class StorageUnavailableError extends withExitCode(ExitCode.storageUnavailable) {}
/** A stored object is corrupted: bad header, bad compression, checksum or size mismatch. */
export class IntegrityError extends withExitCode(ExitCode.integrity) {}
/** Another pitr process holds the lock this command needs. */
export class BusyError extends withExitCode(ExitCode.busy) {}
/** A local input (a WAL file, a directory) is missing, unreadable or not what it should be. */
export class InputError extends withExitCode(ExitCode.input) {}
/** The store answered but refused or failed the operation: permission, full disk, bad bucket. */
export class StorageError extends withExitCode(ExitCode.storage) {}

/** An encrypted object cannot be read with the identity given, or none is given; or a push's recipients are not the repository's. */
export class EncryptionKeyError extends withExitCode(ExitCode.encryptionKey) {}

/** A notification channel did not accept a message (`pitr notify --test`). */
export class NotifyError extends withExitCode(ExitCode.notifyFailed) {}

/** Raised by a storage driver when a no-overwrite write finds the key already there. */
export class AlreadyExistsError extends Error {
  constructor(readonly key: string) {
    super(`object ${key} already exists`);
  }
}
