import { ConfigError } from '../config.js';
import { BackendError } from '../backend/select.js';
import { DatasetError } from '../data/dataset.js';
import { CorruptFileError, StorageError } from '../runs/errors.js';
import { DivergenceError } from '../train/divergence.js';

/** Errors that describe bad input or a missing resource: one line for the user, exit code 2, no stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** A command that already said what happened and only needs to end with `code` (130: interrupted). */
export class SilentExit extends Error {
  override readonly name = 'SilentExit';
  constructor(readonly code: number) {
    super(`exit ${code}`);
  }
}

/** Exit code of a run whose loss became non-finite: not bad input (2), not a crash (1). */
export const DIVERGED_EXIT_CODE = 3;
/** Exit code of a run stopped by Ctrl-C or SIGTERM, as shells report a SIGINT'ed command. */
export const INTERRUPTED_EXIT_CODE = 130;

export function isUserError(error: unknown): error is Error {
  return (
    error instanceof UsageError || error instanceof ConfigError || error instanceof DatasetError || error instanceof BackendError ||
    error instanceof CorruptFileError || error instanceof StorageError
  );
}

/** Prints an error the way every command does and returns the exit code. */
export function reportError(error: unknown): number {
  if (error instanceof SilentExit) return error.code;
  if (error instanceof DivergenceError) {
    process.stderr.write(`infobatch: error: ${error.message}\n`);
    return DIVERGED_EXIT_CODE;
  }
  if (isUserError(error)) {
    process.stderr.write(`infobatch: error: ${error.message}\n`);
    return 2;
  }
  process.stderr.write(`infobatch: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
}
