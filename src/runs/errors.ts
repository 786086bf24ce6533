import { ConfigError } from '../config.js';

/**
 * A run that is missing, unreadable or does not fit what was asked of it. It is a ConfigError (the user
 * named the run), so the CLI prints the message on one line and exits 2.
 */
export class RunLookupError extends ConfigError {
}
