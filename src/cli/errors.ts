import { ConfigError } from '../config.js';
import { BackendError } from '../backend/select.js';
import { DatasetError } from '../data/dataset.js';

/** Errors that describe bad input or a missing resource: one line for the user, exit code 2, no stack. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function isUserError(error: unknown): error is Error {
  return error instanceof UsageError || error instanceof ConfigError || error instanceof DatasetError || error instanceof BackendError;
}

/** Prints an error the way every command does and returns the exit code. */
export function reportError(error: unknown): number {
  if (isUserError(error)) {
    process.stderr.write(`infobatch: error: ${error.message}\n`);
    return 2;
  }
  process.stderr.write(`infobatch: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  return 1;
}
