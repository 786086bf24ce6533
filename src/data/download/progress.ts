/**
 * Download progress: a live bar (bytes, rate, ETA) when stderr is a terminal, and a plain log line
 * every 10 % otherwise, so CI logs and redirected output stay readable.
 */
import cliProgress from 'cli-progress';

export type ProgressMode = 'bar' | 'lines' | 'none';

export interface TransferProgress {
  /** Bytes of the file on disk so far (resumed bytes included). */
  update(doneBytes: number): void;
  stop(): void;
}

/** The mode for this process: a bar on a terminal, log lines otherwise. */
export function defaultProgressMode(): ProgressMode {
  return process.stderr.isTTY ? 'bar' : 'lines';
}

const MB = 1e6;
const megabytes = (bytes: number): string => (bytes / MB).toFixed(1);
/** Lines without a known size come every this many bytes. */
const UNKNOWN_SIZE_STEP = 16 * MB;

function formatSeconds(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  if (seconds < 90) return `${Math.round(seconds)} s`;
  return `${Math.floor(seconds / 60)} min ${Math.round(seconds % 60)} s`;
}

/**
 * Starts reporting a transfer of `label`. `startBytes` were already on disk (a resumed download): they
 * count towards the percentage but not towards the rate.
 */
export function startProgress(
  mode: ProgressMode,
  label: string,
  totalBytes: number | undefined,
  startBytes: number,
  log: (line: string) => void,
): TransferProgress {
  const startedAt = performance.now();
  const rate = (done: number): number => (done - startBytes) / Math.max((performance.now() - startedAt) / 1000, 1e-3);

  if (mode === 'bar' && totalBytes !== undefined && totalBytes > 0) {
    const bar = new cliProgress.SingleBar(
      {
        format: `${label} [{bar}] {percentage}% | {done}/{size} MB | {rate} MB/s | ETA {eta_formatted}`,
        stream: process.stderr,
        hideCursor: false, // a Ctrl-C during the download must not leave the terminal without a cursor
        etaBuffer: 50,
      },
      cliProgress.Presets.shades_classic,
    );
    bar.start(totalBytes, startBytes, { done: megabytes(startBytes), size: megabytes(totalBytes), rate: '0.0' });
    return {
      update(done) {
        bar.update(done, { done: megabytes(done), rate: megabytes(rate(done)) });
      },
      stop() {
        bar.stop();
      },
    };
  }

  if (mode === 'none') return { update() {}, stop() {} };

  // Plain lines: one per 10 % (or per 16 MB without a size), never more.
  let nextMark = 0;
  const markOf = (done: number): number =>
    totalBytes !== undefined && totalBytes > 0 ? Math.floor((done / totalBytes) * 10) : Math.floor(done / UNKNOWN_SIZE_STEP);
  nextMark = markOf(startBytes) + 1;
  return {
    update(done) {
      const mark = markOf(done);
      if (mark < nextMark) return;
      nextMark = mark + 1;
      const speed = rate(done);
      if (totalBytes !== undefined && totalBytes > 0) {
        const eta = (totalBytes - done) / Math.max(speed, 1);
        log(
          `${label}: ${Math.min(mark * 10, 100)}% (${megabytes(done)} of ${megabytes(totalBytes)} MB, ${megabytes(speed)} MB/s, ETA ${formatSeconds(eta)})`,
        );
      } else {
        log(`${label}: ${megabytes(done)} MB so far (${megabytes(speed)} MB/s)`);
      }
    },
    stop() {},
  };
}
