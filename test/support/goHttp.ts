// The HTTP client side of Go's net/http as the runners use it: keep-alive connections, gzip asked
// for and undone, GET redirects followed, bodies buffered or streamed (chunked multipart uploads).
// Shared by the v1 and v4 runner simulators.
import http from 'node:http';
import https from 'node:https';
import type { IncomingHttpHeaders, IncomingMessage, OutgoingHttpHeaders } from 'node:http';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import { RunnerProtocolError } from './goJson.js';
import { type FileContents, zipFiles } from './zip.js';

// ---------------------------------------------------------------------------------------------------
// HTTP transport
// ---------------------------------------------------------------------------------------------------

export interface HttpReply {
  status: number;
  headers: IncomingHttpHeaders;
  /** Already gunzipped when the server used Content-Encoding: gzip (Go does that by itself). */
  body: Buffer;
}

/** One request as the simulator saw it; kept in `RunnerSimulator.exchanges` for debugging tests. */
export interface ExchangeRecord {
  method: string;
  path: string;
  status: number | null;
  error?: string;
}

export interface OutgoingRequest {
  method: string;
  url: URL;
  /** Exact request target: kept verbatim so `artifacts?` keeps its empty query. */
  path: string;
  headers: OutgoingHttpHeaders;
  body?: Buffer;
}

export const MAX_REDIRECTS = 10;

export function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

export function transportFor(url: URL): typeof http | typeof https {
  return url.protocol === 'https:' ? https : http;
}

export async function readBody(response: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of response) chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk)));
  const body = Buffer.concat(chunks);
  // Go's Transport asked for gzip on its own, so it also decompresses on its own.
  return headerValue(response.headers, 'content-encoding') === 'gzip' ? gunzipSync(body) : body;
}

export function networkError(request: OutgoingRequest, error: Error): RunnerProtocolError {
  return new RunnerProtocolError(`${request.method} ${request.path}: ${error.message}`, 'network');
}


// ---------------------------------------------------------------------------------------------------
// Streaming upload (artifacts)
// ---------------------------------------------------------------------------------------------------

/** What an artifacts upload sends inside the multipart `file` part. */
export type ArtifactsContent =
  | { files: FileContents }
  | { stream: Readable }
  /** That many random bytes, generated while sending (never held in memory). Not a valid zip. */
  | { randomBytes: number };

export interface UploadResult {
  /** null when the connection failed before any response arrived. */
  status: number | null;
  headers: IncomingHttpHeaders;
  body: Buffer;
  /** Bytes of the multipart body handed to the request (socket buffers included) before it ended or was cut. */
  bytesSent: number;
  /** True when the whole multipart body was sent (false when the server answered or hung up early). */
  requestCompleted: boolean;
  /** A transport error (e.g. EPIPE/ECONNRESET after an early 413), captured instead of thrown. */
  error?: string;
  path: string;
}

/** Go's multipart.Writer boundary: 30 random bytes in hex. */
export function multipartBoundary(): string {
  return randomBytes(30).toString('hex');
}

/** Go's mime/multipart escapeQuotes for Content-Disposition parameters. */
export function escapeQuotes(value: string): string {
  return value.replace(/\\/g, '\\\\').replace(/"/g, '\\"');
}

export function randomByteStream(total: number, chunkSize = 64 * 1024): Readable {
  function* chunks(): Generator<Buffer> {
    for (let left = total; left > 0; left -= chunkSize) yield randomBytes(Math.min(chunkSize, left));
  }
  return Readable.from(chunks(), { objectMode: false });
}

export function contentStream(content: ArtifactsContent): Readable {
  if ('files' in content) return zipFiles(content.files);
  if ('stream' in content) return content.stream;
  return randomByteStream(content.randomBytes);
}

/** One multipart/form-data part named `file`, like CreateFormFile in Go (headers sorted by name). */
export function multipartStream(boundary: string, filename: string, content: Readable): Readable {
  async function* parts(): AsyncGenerator<Buffer> {
    yield Buffer.from(
      `--${boundary}\r\n` +
        `Content-Disposition: form-data; name="file"; filename="${escapeQuotes(filename)}"\r\n` +
        'Content-Type: application/octet-stream\r\n\r\n',
    );
    for await (const chunk of content) yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(String(chunk));
    yield Buffer.from(`\r\n--${boundary}--\r\n`);
  }
  return Readable.from(parts(), { objectMode: false });
}


/** One runner's HTTP client: requests relative to its API base, each one recorded in `exchanges`. */
export class GoHttpClient {
  /** Every request sent, in order. */
  readonly exchanges: ExchangeRecord[] = [];
  private readonly agent: http.Agent;

  constructor(
    readonly apiBase: URL,
    private readonly requestTimeoutMs: number,
  ) {
    // Go's Transport keeps connections alive; so does the simulator.
    const AgentClass = apiBase.protocol === 'https:' ? https.Agent : http.Agent;
    this.agent = new AgentClass({ keepAlive: true });
  }

  /** Closes kept-alive connections so the test process can exit. */
  close(): void {
    this.agent.destroy();
  }

  /** Any request relative to the API base, with a buffered body. Throws RunnerProtocolError('network'). */
  async send(method: string, relativePath: string, headers: OutgoingHttpHeaders, body?: Buffer): Promise<HttpReply> {
    const request = this.request(method, relativePath, headers, body);
    try {
      const reply = await this.sendBuffered(request, 0);
      this.exchanges.push({ method, path: request.path, status: reply.status });
      return reply;
    } catch (error) {
      const failure = error instanceof Error ? error : new Error(String(error));
      this.exchanges.push({ method, path: request.path, status: null, error: failure.message });
      throw failure instanceof RunnerProtocolError ? failure : networkError(request, failure);
    }
  }

  /** A streamed upload (never throws on transport errors: they are in the result). */
  async upload(method: string, relativePath: string, headers: OutgoingHttpHeaders, body: Readable): Promise<UploadResult> {
    const result = await this.sendStream(this.request(method, relativePath, headers), body);
    this.exchanges.push({ method, path: result.path, status: result.status, ...(result.error ? { error: result.error } : {}) });
    return result;
  }

  request(method: string, relativePath: string, headers: OutgoingHttpHeaders, body?: Buffer): OutgoingRequest {
    const url = new URL(relativePath, this.apiBase);
    const path = `${this.apiBase.pathname}${relativePath}`;
    // Go's Transport adds this by itself (and then decompresses, see readBody).
    const allHeaders: OutgoingHttpHeaders = { ...headers, 'Accept-Encoding': 'gzip' };
    if (body !== undefined) allHeaders['Content-Length'] = body.length;
    return { method, url, path, headers: allHeaders, ...(body !== undefined ? { body } : {}) };
  }

  private sendBuffered(request: OutgoingRequest, redirects: number): Promise<HttpReply> {
    return new Promise<HttpReply>((resolve, reject) => {
      const req = transportFor(request.url).request(
        this.requestOptions(request),
        (response) => {
          const status = response.statusCode ?? 0;
          const location = headerValue(response.headers, 'location');
          if (request.method === 'GET' && status >= 300 && status < 400 && location && redirects < MAX_REDIRECTS) {
            // Go follows redirects, e.g. GitLab's artifact downloads from object storage.
            response.resume();
            const url = new URL(location, request.url);
            resolve(this.sendBuffered({ ...request, url, path: `${url.pathname}${url.search}` }, redirects + 1));
            return;
          }
          readBody(response).then((body) => resolve({ status, headers: response.headers, body }), reject);
        },
      );
      this.applyTimeout(req);
      req.on('error', reject);
      req.end(request.body);
    });
  }

  private requestOptions(request: OutgoingRequest): http.RequestOptions {
    return {
      protocol: request.url.protocol,
      // URL keeps IPv6 brackets; node:http wants the bare address.
      hostname: request.url.hostname.replace(/^\[(.*)\]$/, '$1'),
      port: request.url.port,
      path: request.path,
      method: request.method,
      headers: request.headers,
      agent: this.agent,
    };
  }

  private applyTimeout(req: http.ClientRequest): void {
    if (this.requestTimeoutMs > 0) {
      req.setTimeout(this.requestTimeoutMs, () => req.destroy(new Error(`no answer within ${this.requestTimeoutMs} ms`)));
    }
  }

  /**
   * Streams `body` as the request body. If the server answers before the body is complete (413 while
   * streaming), production stops and that answer is returned; transport errors become `error`.
   */
  private sendStream(request: OutgoingRequest, body: Readable): Promise<UploadResult> {
    return new Promise<UploadResult>((resolve) => {
      let bytesSent = 0;
      let requestCompleted = false;
      let responded = false;
      let settled = false;
      const finish = (result: Omit<UploadResult, 'bytesSent' | 'requestCompleted' | 'path'>): void => {
        if (settled) return;
        settled = true;
        resolve({ ...result, bytesSent, requestCompleted, path: request.path });
      };
      const req = transportFor(request.url).request(
        this.requestOptions(request),
        (response) => {
          responded = true;
          if (!requestCompleted) {
            body.unpipe(req);
            body.destroy();
          }
          const status = response.statusCode ?? 0;
          readBody(response).then(
            (replyBody) => finish({ status, headers: response.headers, body: replyBody }),
            (error: Error) => finish({ status, headers: response.headers, body: Buffer.alloc(0), error: error.message }),
          ).finally(() => {
            // A request cut short can never reuse its socket.
            if (!requestCompleted) req.destroy();
          });
        },
      );
      this.applyTimeout(req);
      req.on('finish', () => {
        requestCompleted = true;
      });
      req.on('error', (error) => {
        body.unpipe(req);
        body.destroy();
        if (!responded) finish({ status: null, headers: {}, body: Buffer.alloc(0), error: error.message });
      });
      body.on('data', (chunk: Buffer) => {
        bytesSent += chunk.length;
      });
      body.on('error', (error) => req.destroy(error));
      body.pipe(req);
    });
  }
}
