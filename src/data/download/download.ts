/**
 * Fetches one file to disk so that only a verified copy ever carries its final name.
 *
 * Bytes go to `<destination>.part`; the MD5 is computed while they stream; the part is renamed to the
 * destination only when its MD5 matches. A network drop or stall keeps the part and the next attempt
 * (or the next run) resumes it with an HTTP Range request when the server answers 206, and restarts
 * when it answers 200. A part that fails its checksum is deleted and fetched again, a bounded number
 * of times. Only the `.part` file is ever deleted here: the destination is never touched unless the
 * download verified.
 *
 * HTTP uses node-fetch rather than Node's global fetch because it can switch off transparent
 * decompression (`compress: false`): a server or proxy that labels a .tar.gz with
 * `Content-Encoding: gzip` would otherwise hand us the decompressed tar and the published MD5 could
 * never match. Its body is also a Node stream that pipes straight to disk.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { open, rename, rm, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import fetch from 'node-fetch';
import { startProgress, type ProgressMode } from './progress.js';

export interface DownloadRequest {
  /** An http(s) URL, a file: URL, or a local path (a mirror on disk). */
  readonly source: string;
  /** Final path of the verified file. */
  readonly destination: string;
  /** Expected MD5, lowercase hex. */
  readonly md5: string;
  /** Expected size in bytes, when published: a longer partial file is discarded instead of resumed. */
  readonly expectedBytes?: number;
  /** An attempt fails when no byte arrives for this long (connecting included). */
  readonly idleTimeoutMs: number;
  /**
   * Further attempts after the first failed one. A host that cannot be reached at all gets one retry
   * only, so that working offline fails fast.
   */
  readonly retries: number;
  /** Wait before retry k (1-based) is retryDelayMs · 2^(k-1), at most 30 s. */
  readonly retryDelayMs: number;
  readonly log: (line: string) => void;
  readonly progress: ProgressMode;
}

export type DownloadFailure = 'unreachable' | 'http' | 'timeout' | 'interrupted' | 'checksum' | 'missing' | 'disk';

/** Why a download failed, in one line; `retryable` failures may succeed on another attempt. */
export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    message: string,
    readonly failure: DownloadFailure,
    readonly retryable: boolean,
  ) {
    super(message);
  }
}

const MAX_RETRY_DELAY_MS = 30_000;
/** Connection-level error codes that mean the host could not be reached at all. */
const UNREACHABLE_CODES = new Set([
  'ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'ENETUNREACH', 'EHOSTUNREACH', 'ETIMEDOUT', 'ENETDOWN', 'EAI_FAIL',
]);

export function partPathOf(destination: string): string {
  return `${destination}.part`;
}

/** MD5 of a whole file, lowercase hex. */
export async function md5OfFile(path: string): Promise<string> {
  const hash = createHash('md5');
  await hashFileInto(hash, path);
  return hash.digest('hex');
}

async function hashFileInto(hash: Hash, path: string): Promise<void> {
  for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 })) hash.update(chunk as Buffer);
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw error;
  }
}

function isHttpSource(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** A local path for file: URLs and plain paths. */
function localPathOf(source: string): string {
  return /^file:/i.test(source) ? fileURLToPath(source) : source;
}

/**
 * Downloads `request.source` to `request.destination`, verified against `request.md5`.
 * Throws DownloadError after the last failed attempt (or at once when retrying cannot help).
 */
export async function downloadVerified(request: DownloadRequest): Promise<void> {
  const attempts = request.retries + 1;
  let lastError: DownloadError | undefined;
  let everConnected = false;
  let made = 0;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    made = attempt;
    try {
      await attemptOnce(request);
      return;
    } catch (caught) {
      const error = asDownloadError(caught, request);
      if (!error.retryable) throw error;
      lastError = error;
      everConnected ||= error.failure !== 'unreachable';
      // A host never reached twice in a row means no network (or a wrong mirror): say so now rather
      // than after the whole back-off; a drop in the middle of a transfer keeps every retry.
      if (!everConnected && attempt >= 2) break;
      if (attempt < attempts) {
        const delay = Math.min(request.retryDelayMs * 2 ** (attempt - 1), MAX_RETRY_DELAY_MS);
        request.log(`${basename(request.destination)}: ${error.message}; retry ${attempt} of ${request.retries} in ${(delay / 1000).toFixed(delay < 1000 ? 1 : 0)} s`);
        await sleep(delay);
      }
    }
  }
  const error = lastError!;
  const tries = made === 1 ? '1 attempt' : `${made} attempts`;
  throw new DownloadError(`${error.message} (gave up after ${tries})`, error.failure, false);
}

async function attemptOnce(request: DownloadRequest): Promise<void> {
  const partPath = partPathOf(request.destination);
  const digest = isHttpSource(request.source) ? await fetchToPart(request, partPath) : await copyToPart(request, partPath);
  if (digest !== request.md5.toLowerCase()) {
    await rm(partPath, { force: true });
    throw new DownloadError(
      `${request.destination} from ${request.source} has MD5 ${digest}, expected ${request.md5}: discarded`,
      'checksum',
      true,
    );
  }
  // Flush to disk before the rename, so a power cut cannot leave a verified name on unwritten blocks.
  const handle = await open(partPath, 'r+');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(partPath, request.destination);
}

/** One HTTP attempt into the part file (resuming it when possible); returns the MD5 of the whole part. */
async function fetchToPart(request: DownloadRequest, partPath: string): Promise<string> {
  let offset = await sizeOf(partPath);
  if (request.expectedBytes !== undefined && offset > request.expectedBytes) {
    await rm(partPath, { force: true });
    offset = 0;
  }
  // A complete part left by a run stopped between download and rename: verify it without the network.
  if (request.expectedBytes !== undefined && offset === request.expectedBytes) return md5OfFile(partPath);

  const controller = new AbortController();
  let timedOut = false;
  let timer: NodeJS.Timeout | undefined;
  const armIdleTimer = (): void => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      timedOut = true;
      controller.abort();
    }, request.idleTimeoutMs);
  };
  const name = basename(request.destination);
  let progress: { stop(): void } | undefined;
  let responseStarted = false;
  try {
    armIdleTimer();
    const response = await fetch(request.source, {
      headers: { 'Accept-Encoding': 'identity', ...(offset > 0 ? { Range: `bytes=${offset}-` } : {}) },
      compress: false,
      signal: controller.signal,
    });
    responseStarted = true;
    // node-fetch emits 'error' on the body when aborted (idle timer, or a response we drop); until the
    // pipeline below listens, this keeps that from becoming an uncaught exception.
    response.body?.on('error', () => {});
    const discard = (): void => controller.abort();
    let total: number | undefined;
    const contentLength = Number.parseInt(response.headers.get('content-length') ?? '', 10);
    if (response.status === 206 && offset > 0) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get('content-range') ?? '');
      if (range === null || Number(range[1]) !== offset) {
        discard();
        await rm(partPath, { force: true });
        throw new DownloadError(`${request.source} answered the resume request with a different range; restarting`, 'interrupted', true);
      }
      total = range[3] === '*' ? undefined : Number(range[3]);
      request.log(`${name}: resuming at ${(offset / 1e6).toFixed(1)} MB`);
    } else if (response.status === 200) {
      if (offset > 0) request.log(`${name}: the server does not resume downloads; starting again from the beginning`);
      offset = 0;
      total = Number.isFinite(contentLength) ? contentLength : undefined;
    } else if (response.status === 416 && offset > 0) {
      // Nothing left to send: the part already holds the whole file (or is longer than it). Its MD5 decides.
      discard();
      return md5OfFile(partPath);
    } else {
      discard();
      const retryable = response.status >= 500 || response.status === 408 || response.status === 429;
      throw new DownloadError(`${request.source} answered HTTP ${response.status} ${response.statusText}`.trimEnd(), 'http', retryable);
    }
    if (response.body === null) throw new DownloadError(`${request.source} sent no body`, 'interrupted', true);

    const hash = createHash('md5');
    if (offset > 0) await hashFileInto(hash, partPath);
    armIdleTimer();
    const meter = startProgress(request.progress, name, total, offset, request.log);
    progress = meter;
    let received = offset;
    await pipeline(
      response.body as Readable,
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          armIdleTimer();
          hash.update(chunk);
          received += chunk.length;
          meter.update(received);
          yield chunk;
        }
      },
      createWriteStream(partPath, { flags: offset > 0 ? 'a' : 'w' }),
    );
    if (total !== undefined && received < total) {
      throw new DownloadError(`the transfer of ${request.source} stopped at ${received} of ${total} bytes`, 'interrupted', true);
    }
    return hash.digest('hex');
  } catch (error) {
    if (error instanceof DownloadError) throw error;
    if (timedOut) {
      const seconds = (request.idleTimeoutMs / 1000).toFixed(1);
      // No answer at all is how a firewalled or offline network often looks: count it as unreachable.
      if (!responseStarted) throw new DownloadError(`no response from ${request.source} within ${seconds} s`, 'unreachable', true);
      throw new DownloadError(`no data from ${request.source} for ${seconds} s`, 'timeout', true);
    }
    throw classifyError(error, request, responseStarted);
  } finally {
    clearTimeout(timer);
    progress?.stop();
  }
}

/** Copies a mirror on disk into the part file (no resume: a local copy is quick). */
async function copyToPart(request: DownloadRequest, partPath: string): Promise<string> {
  const sourcePath = localPathOf(request.source);
  const size = await sizeOf(sourcePath);
  if (size === 0) throw new DownloadError(`the mirror has no ${sourcePath} (or it is empty)`, 'missing', false);
  const hash = createHash('md5');
  const meter = startProgress(request.progress, basename(request.destination), size, 0, request.log);
  let copied = 0;
  try {
    await pipeline(
      createReadStream(sourcePath, { highWaterMark: 1 << 20 }),
      async function* (source: AsyncIterable<Buffer>) {
        for await (const chunk of source) {
          hash.update(chunk);
          copied += chunk.length;
          meter.update(copied);
          yield chunk;
        }
      },
      createWriteStream(partPath),
    );
  } finally {
    meter.stop();
  }
  return hash.digest('hex');
}

function codeOf(error: unknown): string | undefined {
  let current: unknown = error;
  // node-fetch wraps system errors (FetchError.code); stream errors carry their own code.
  for (let depth = 0; depth < 4 && current !== null && typeof current === 'object'; depth++) {
    const code = (current as { code?: unknown }).code;
    if (typeof code === 'string') return code;
    current = (current as { cause?: unknown }).cause;
  }
  return undefined;
}

function classifyError(error: unknown, request: DownloadRequest, responseStarted: boolean): DownloadError {
  const fsError = error as NodeJS.ErrnoException;
  // A failure of our own file (disk full, permissions) will not go away by retrying.
  if (typeof fsError?.syscall === 'string' && typeof fsError.path === 'string') {
    return new DownloadError(`cannot write ${fsError.path}: ${fsError.code ?? fsError.message}`, 'disk', false);
  }
  const code = codeOf(error);
  if (!responseStarted && code !== undefined && UNREACHABLE_CODES.has(code)) {
    return new DownloadError(`cannot reach ${request.source} (${code})`, 'unreachable', true);
  }
  const reason = code ?? (error instanceof Error ? error.message : String(error));
  return responseStarted
    ? new DownloadError(`the transfer of ${request.source} was cut off (${reason})`, 'interrupted', true)
    : new DownloadError(`cannot reach ${request.source} (${reason})`, 'unreachable', true);
}

function asDownloadError(error: unknown, request: DownloadRequest): DownloadError {
  if (error instanceof DownloadError) return error;
  return classifyError(error, request, false);
}
