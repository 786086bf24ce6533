import { ConfigError } from '../config.js';

/**
 * A run that is missing, unreadable or does not fit what was asked of it. It is a ConfigError (the user
 * named the run), so the CLI prints the message on one line and exits 2.
 */
export class RunLookupError extends ConfigError {
}

/**
 * File problems the user can fix, each said in one line that names the file and what to do (the CLI prints
 * it and exits 2): a full disk or an unwritable folder (StorageError), a file that exists but cannot be
 * what it claims to be (CorruptFileError).
 */
export class StorageError extends Error {
  override readonly name = 'StorageError';
}

/** A RunLookupError too: a run whose file is corrupt cannot be used as asked (and the CLI exits 2). */
export class CorruptFileError extends RunLookupError {
  constructor(
    readonly file: string,
    reason: string,
    remedy: string,
  ) {
    super(`${file} is corrupt (${reason}); ${remedy}`);
  }
}

const STORAGE_CODES: Record<string, string> = {
  ENOSPC: 'the disk is full',
  EDQUOT: 'the disk quota is exhausted',
  EROFS: 'the file system is read-only',
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  ENOTDIR: 'a part of the path is a file, not a folder',
  ENAMETOOLONG: 'the name is too long for the file system',
};

/** A StorageError for an fs error the user must fix (disk full, read-only, ...); the error itself otherwise. */
export function storageErrorOf(error: unknown, path: string, hint = 'free space or fix the folder, then rerun (with --resume for a run that had started)'): unknown {
  const code = (error as NodeJS.ErrnoException | null)?.code;
  const reason = code === undefined ? undefined : STORAGE_CODES[code];
  return reason === undefined ? error : new StorageError(`cannot write ${path}: ${reason} (${code}); ${hint}`);
}
