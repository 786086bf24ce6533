/**
 * Ctrl-C (SIGINT) and SIGTERM during training: the first one asks the loop to stop after the batch it is
 * on (the loop polls `requested` between batches), so nothing is left half-written and the run can be
 * resumed from its last checkpoint; a second Ctrl-C exits at once (exit code 130), for a user who does not
 * want to wait for the batch.
 */
export class InterruptionRequest {
  #signal: NodeJS.Signals | null = null;
  readonly #handlers = new Map<NodeJS.Signals, () => void>();

  /** Which signal asked the run to stop; null while none did. */
  get signal(): NodeJS.Signals | null {
    return this.#signal;
  }

  get requested(): boolean {
    return this.#signal !== null;
  }

  /** Listens for SIGINT and SIGTERM until dispose(); `log` gets one line when the first arrives. */
  static listen(log: (line: string) => void): InterruptionRequest {
    const request = new InterruptionRequest();
    for (const signal of ['SIGINT', 'SIGTERM'] as const) {
      const handler = (): void => {
        if (request.#signal !== null) {
          process.stderr.write(`\ninfobatch: second ${signal}: exiting now (the last checkpoint is kept)\n`);
          process.exit(130);
        }
        request.#signal = signal;
        log(`${signal === 'SIGINT' ? 'Ctrl-C' : signal}: stopping after the current batch (press Ctrl-C again to quit at once)`);
      };
      request.#handlers.set(signal, handler);
      process.on(signal, handler);
    }
    return request;
  }

  /** For tests and the library: ask for a stop as a signal would. */
  request(signal: NodeJS.Signals = 'SIGINT'): void {
    this.#signal ??= signal;
  }

  dispose(): void {
    for (const [signal, handler] of this.#handlers) process.off(signal, handler);
    this.#handlers.clear();
  }
}
