/**
 * The resumable, verified downloader against a local HTTP server on 127.0.0.1 (no internet):
 * first download, truncated transfer + resume, servers without Range, corrupted bodies, HTTP errors,
 * stalls, unreachable hosts, local mirrors, and the lock between concurrent runs.
 */
import assert from 'node:assert/strict';
import { access, mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { pathToFileURL } from 'node:url';
import { DownloadError, downloadVerified, partPathOf, type DownloadRequest } from '../src/data/download/download.js';
import { withFileLock } from '../src/data/download/file-lock.js';
import { md5Of } from './helpers/cifar-archive.js';
import { sendFile, sendStalled, sendStatus, sendTruncated, startLocalServer, unusedBaseUrl, type LocalServer } from './helpers/local-server.js';

/** 200 kB of pseudo-random bytes: big enough for several chunks, small enough to be instant. */
const BODY = Buffer.from(Array.from({ length: 200_000 }, (_, i) => (i * 2654435761) >>> 24));
const BODY_MD5 = md5Of(BODY);

const servers: LocalServer[] = [];
async function serve(handler: Parameters<typeof startLocalServer>[0]): Promise<LocalServer> {
  const server = await startLocalServer(handler);
  servers.push(server);
  return server;
}

let root: string;
before(async () => {
  root = await mkdtemp(join(tmpdir(), 'infobatch-download-test-'));
});
after(async () => {
  await Promise.all(servers.map((server) => server.close()));
  await rm(root, { recursive: true, force: true });
});

const freshDir = (): Promise<string> => mkdtemp(join(root, 'case-'));

function request(source: string, destination: string, overrides: Partial<DownloadRequest> = {}): DownloadRequest & { lines: string[] } {
  const lines: string[] = [];
  return {
    source,
    destination,
    md5: BODY_MD5,
    idleTimeoutMs: 2_000,
    retries: 2,
    retryDelayMs: 0,
    log: (line) => lines.push(line),
    progress: 'lines',
    lines,
    ...overrides,
  };
}

const exists = (path: string): Promise<boolean> => access(path).then(() => true, () => false);

describe('downloadVerified', () => {
  it('downloads, verifies the MD5, renames, and reports progress in lines', async () => {
    const server = await serve((req, res) => sendFile(req, res, BODY));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    const req = request(`${server.baseUrl}file.tar.gz`, destination);
    await downloadVerified(req);
    assert.deepEqual(await readFile(destination), BODY);
    assert.equal(await exists(partPathOf(destination)), false);
    assert.equal(server.requests.length, 1);
    assert.equal(server.requests[0]!.range, undefined);
    assert.ok(req.lines.some((line) => /file\.tar\.gz: 100% \(0\.2 of 0\.2 MB, .* MB\/s, ETA/.test(line)), req.lines.join('\n'));
  });

  it('resumes a truncated transfer with a Range request when the server answers 206', async () => {
    const server = await serve((req, res, index) => (index === 0 ? sendTruncated(res, BODY, 70_000) : sendFile(req, res, BODY)));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    const req = request(`${server.baseUrl}file.tar.gz`, destination);
    await downloadVerified(req);
    assert.deepEqual(await readFile(destination), BODY);
    assert.equal(server.requests.length, 2);
    assert.equal(server.requests[1]!.range, 'bytes=70000-');
    assert.ok(req.lines.some((line) => line.includes('resuming at 0.1 MB')), req.lines.join('\n'));
    assert.ok(req.lines.some((line) => line.includes('retry 1 of 2')), req.lines.join('\n'));
  });

  it('restarts from the beginning when the server ignores Range (200)', async () => {
    const server = await serve((req, res, index) => (index === 0 ? sendTruncated(res, BODY, 50_000) : sendFile(req, res, BODY, false)));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    const req = request(`${server.baseUrl}file.tar.gz`, destination);
    await downloadVerified(req);
    assert.deepEqual(await readFile(destination), BODY);
    assert.equal(server.requests[1]!.range, 'bytes=50000-');
    assert.ok(req.lines.some((line) => line.includes('does not resume')), req.lines.join('\n'));
  });

  it('resumes a partial file left by an interrupted run (Ctrl-C) on the next call', async () => {
    const server = await serve((req, res) => sendFile(req, res, BODY));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    await writeFile(partPathOf(destination), BODY.subarray(0, 123_456));
    await downloadVerified(request(`${server.baseUrl}file.tar.gz`, destination));
    assert.deepEqual(await readFile(destination), BODY);
    assert.deepEqual(server.requests.map((r) => r.range), ['bytes=123456-']);
  });

  it('verifies a complete leftover part of the published size without any request', async () => {
    const server = await serve((req, res) => sendFile(req, res, BODY));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    await writeFile(partPathOf(destination), BODY);
    await downloadVerified(request(`${server.baseUrl}file.tar.gz`, destination, { expectedBytes: BODY.length }));
    assert.deepEqual(await readFile(destination), BODY);
    assert.equal(server.requests.length, 0);
  });

  it('deletes a leftover part that does not verify and downloads the file again', async () => {
    const server = await serve((req, res) => sendFile(req, res, BODY));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    await writeFile(partPathOf(destination), Buffer.alloc(10_000, 7)); // not a prefix of BODY
    await downloadVerified(request(`${server.baseUrl}file.tar.gz`, destination));
    assert.deepEqual(await readFile(destination), BODY);
    assert.deepEqual(server.requests.map((r) => r.range), ['bytes=10000-', undefined]);
  });

  it('retries a corrupted body, then succeeds when a good copy comes', async () => {
    const corrupt = Buffer.from(BODY);
    corrupt[1234] ^= 0xff;
    const server = await serve((req, res, index) => sendFile(req, res, index === 0 ? corrupt : BODY));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    const req = request(`${server.baseUrl}file.tar.gz`, destination);
    await downloadVerified(req);
    assert.deepEqual(await readFile(destination), BODY);
    assert.equal(server.requests.length, 2);
    assert.ok(req.lines.some((line) => line.includes(`expected ${BODY_MD5}`)), req.lines.join('\n'));
  });

  it('gives up on a body that never verifies: names the file and the expected MD5, leaves nothing behind', async () => {
    const corrupt = Buffer.from(BODY);
    corrupt[99] ^= 0x01;
    const server = await serve((req, res) => sendFile(req, res, corrupt));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    await assert.rejects(downloadVerified(request(`${server.baseUrl}file.tar.gz`, destination)), (error: unknown) => {
      assert.ok(error instanceof DownloadError);
      assert.equal(error.failure, 'checksum');
      assert.ok(error.message.includes(destination), error.message);
      assert.ok(error.message.includes(`expected ${BODY_MD5}`), error.message);
      assert.ok(error.message.includes(`has MD5 ${md5Of(corrupt)}`), error.message);
      assert.ok(error.message.includes('gave up after 3 attempts'), error.message);
      return true;
    });
    assert.equal(server.requests.length, 3);
    assert.deepEqual(await readdir(dir), []);
  });

  it('retries a server error (503) and succeeds on the next answer', async () => {
    const server = await serve((req, res, index) => (index === 0 ? sendStatus(res, 503) : sendFile(req, res, BODY)));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    await downloadVerified(request(`${server.baseUrl}file.tar.gz`, destination));
    assert.deepEqual(await readFile(destination), BODY);
    assert.equal(server.requests.length, 2);
  });

  it('reports a persistent server error (500) after the bounded retries', async () => {
    const server = await serve((_req, res) => sendStatus(res, 500));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    await assert.rejects(downloadVerified(request(`${server.baseUrl}file.tar.gz`, destination, { retries: 1 })), /HTTP 500 .*gave up after 2 attempts/);
    assert.equal(server.requests.length, 2);
    assert.deepEqual(await readdir(dir), []);
  });

  it('does not retry a missing file (404)', async () => {
    const server = await serve((_req, res) => sendStatus(res, 404));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    await assert.rejects(downloadVerified(request(`${server.baseUrl}file.tar.gz`, destination)), (error: unknown) => {
      assert.ok(error instanceof DownloadError && error.failure === 'http' && /HTTP 404/.test(error.message));
      return true;
    });
    assert.equal(server.requests.length, 1);
  });

  it('times out a stalled server, keeps the partial bytes, and resumes them on the next run', async () => {
    const stalled = await serve((_req, res) => sendStalled(res, BODY, 40_000));
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    const started = performance.now();
    await assert.rejects(
      downloadVerified(request(`${stalled.baseUrl}file.tar.gz`, destination, { idleTimeoutMs: 150, retries: 1 })),
      (error: unknown) => {
        assert.ok(error instanceof DownloadError && error.failure === 'timeout', String(error));
        assert.match(error.message, /no data from .* for 0\.1 s|no data from .* for 0\.2 s/);
        return true;
      },
    );
    assert.ok(performance.now() - started < 5_000, 'the idle timeout must end a stalled attempt');
    assert.equal(stalled.requests.length, 2);
    // The second attempt resumed the first one's bytes, so the part holds exactly the sent prefix.
    assert.equal(stalled.requests[1]!.range, 'bytes=40000-');
    assert.equal(await exists(destination), false);

    const good = await serve((req, res) => sendFile(req, res, BODY));
    await downloadVerified(request(`${good.baseUrl}file.tar.gz`, destination));
    assert.deepEqual(await readFile(destination), BODY);
    assert.equal(good.requests[0]!.range, 'bytes=40000-');
  });

  it('reports an unreachable host as such, after one retry only (offline fails fast)', async () => {
    const dir = await freshDir();
    const destination = join(dir, 'file.tar.gz');
    const req = request(`${await unusedBaseUrl()}file.tar.gz`, destination, { retries: 5 });
    await assert.rejects(downloadVerified(req), (error: unknown) => {
      assert.ok(error instanceof DownloadError && error.failure === 'unreachable', String(error));
      assert.match(error.message, /^cannot reach http:\/\/127\.0\.0\.1:\d+\/file\.tar\.gz \(ECONNREFUSED\) \(gave up after 2 attempts\)$/);
      return true;
    });
    assert.equal(req.lines.filter((line) => line.includes('retry')).length, 1);
    assert.deepEqual(await readdir(dir), []);
  });

  it('counts a server that never answers as unreachable (one retry, then the error)', async () => {
    const silent = await serve(() => {}); // accepts the connection, never sends headers
    const dir = await freshDir();
    await assert.rejects(
      downloadVerified(request(`${silent.baseUrl}file.tar.gz`, join(dir, 'file.tar.gz'), { idleTimeoutMs: 100, retries: 4 })),
      /^DownloadError: no response from http:\/\/127\.0\.0\.1:\d+\/file\.tar\.gz within 0\.1 s \(gave up after 2 attempts\)$/,
    );
    assert.equal(silent.requests.length, 2);
  });

  it('copies from a mirror folder (plain path or file: URL) with the same verification', async () => {
    const mirror = await freshDir();
    await writeFile(join(mirror, 'file.tar.gz'), BODY);
    const dir = await freshDir();
    await downloadVerified(request(join(mirror, 'file.tar.gz'), join(dir, 'a.tar.gz')));
    await downloadVerified(request(pathToFileURL(join(mirror, 'file.tar.gz')).href, join(dir, 'b.tar.gz')));
    assert.deepEqual(await readFile(join(dir, 'a.tar.gz')), BODY);
    assert.deepEqual(await readFile(join(dir, 'b.tar.gz')), BODY);
    await assert.rejects(downloadVerified(request(join(mirror, 'absent.tar.gz'), join(dir, 'c.tar.gz'))), /mirror has no/);
  });
});

describe('withFileLock', () => {
  it('takes over a lock left by a process that no longer exists', async () => {
    const dir = await freshDir();
    const lock = join(dir, 'x.lock');
    await writeFile(lock, '2147483646\n'); // no such pid
    const result = await withFileLock(lock, 'testing', () => {}, async () => 'ran');
    assert.equal(result, 'ran');
    assert.equal(await exists(lock), false);
  });

  it('waits while a live process holds the lock, then runs', async () => {
    const dir = await freshDir();
    const lock = join(dir, 'x.lock');
    await writeFile(lock, `${process.ppid}\n`); // the parent process: alive
    const lines: string[] = [];
    setTimeout(() => void rm(lock), 300);
    const started = performance.now();
    await withFileLock(lock, 'downloading x', (line) => lines.push(line), async () => {});
    assert.ok(performance.now() - started >= 250);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, new RegExp(`waiting for another process \\(pid ${process.ppid}\\) that is downloading x`));
  });
});
