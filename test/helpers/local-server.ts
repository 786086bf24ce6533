/**
 * A throwaway HTTP server on 127.0.0.1 whose behaviour each test scripts per request: serve a file
 * (with or without Range support), cut a transfer short, stall, or fail with a status.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RecordedRequest {
  readonly path: string;
  readonly range: string | undefined;
}

/** Scripts the answer to the `index`-th request (0-based). */
export type RequestHandler = (request: IncomingMessage, response: ServerResponse, index: number) => void;

export interface LocalServer {
  /** Base URL with a trailing slash, e.g. http://127.0.0.1:41234/ */
  readonly baseUrl: string;
  readonly requests: RecordedRequest[];
  close(): Promise<void>;
}

export async function startLocalServer(handler: RequestHandler): Promise<LocalServer> {
  const requests: RecordedRequest[] = [];
  const server = createServer((request, response) => {
    const index = requests.length;
    requests.push({ path: request.url ?? '', range: request.headers.range });
    handler(request, response, index);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    baseUrl: `http://127.0.0.1:${port}/`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A base URL where nothing listens (connection refused), like a machine without network. */
export async function unusedBaseUrl(): Promise<string> {
  const server = await startLocalServer(() => {});
  const url = server.baseUrl;
  await server.close();
  return url;
}

/** Serves `body`; honours `Range: bytes=N-` with 206 when `ranges` is true (like the official server). */
export function sendFile(request: IncomingMessage, response: ServerResponse, body: Buffer, ranges = true): void {
  const match = /^bytes=(\d+)-$/.exec(request.headers.range ?? '');
  if (ranges && match !== null) {
    const start = Number(match[1]);
    if (start >= body.length) {
      response.writeHead(416, { 'Content-Range': `bytes */${body.length}` });
      response.end();
      return;
    }
    response.writeHead(206, {
      'Content-Type': 'application/x-gzip',
      'Content-Length': body.length - start,
      'Content-Range': `bytes ${start}-${body.length - 1}/${body.length}`,
      'Accept-Ranges': 'bytes',
    });
    response.end(body.subarray(start));
    return;
  }
  response.writeHead(200, { 'Content-Type': 'application/x-gzip', 'Content-Length': body.length, ...(ranges ? { 'Accept-Ranges': 'bytes' } : {}) });
  response.end(body);
}

/** Announces the whole `body` but sends only its first `sent` bytes, then drops the connection. */
export function sendTruncated(response: ServerResponse, body: Buffer, sent: number): void {
  response.writeHead(200, { 'Content-Type': 'application/x-gzip', 'Content-Length': body.length, 'Accept-Ranges': 'bytes' });
  response.write(body.subarray(0, sent), () => setTimeout(() => response.socket?.destroy(), 20));
}

/** Sends headers and the first `sent` bytes of `body`, then nothing more (a stalled server). */
export function sendStalled(response: ServerResponse, body: Buffer, sent: number): void {
  response.writeHead(200, { 'Content-Type': 'application/x-gzip', 'Content-Length': body.length, 'Accept-Ranges': 'bytes' });
  response.write(body.subarray(0, sent));
}

export function sendStatus(response: ServerResponse, status: number): void {
  response.writeHead(status, { 'Content-Type': 'text/plain' });
  response.end(`status ${status}\n`);
}
