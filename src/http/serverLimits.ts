import http from 'node:http';
import type { Duplex } from 'node:stream';
import type { Config } from '../config.js';

/** Request line and headers together: Node's own default, stated so that it is ours. */
export const MAX_HEADER_BYTES = 16 * 1024;
/** A runner sends fewer than ten headers, a browser about twenty. */
export const MAX_HEADER_COUNT = 100;
/** How often Node looks for requests past their header or request timeout. */
const TIMEOUT_CHECK_INTERVAL_MS = 1000;

/**
 * The node:http options that bound what a client may make the server hold:
 * - headers within MAX_HEADER_BYTES, and complete within HEADERS_TIMEOUT_SECONDS;
 * - the whole request (headers and body) received within REQUEST_TIMEOUT_SECONDS. Node
 *   counts only until the request has arrived, so a held long poll (CI_LONG_POLL_SECONDS)
 *   or a live trace stream is not cut by it: only a body that trickles in is.
 */
export function serverOptions(config: Pick<Config, 'headersTimeoutMs' | 'requestTimeoutMs'>): http.ServerOptions {
  return {
    maxHeaderSize: MAX_HEADER_BYTES,
    headersTimeout: config.headersTimeoutMs,
    requestTimeout: config.requestTimeoutMs,
    connectionsCheckingInterval: TIMEOUT_CHECK_INTERVAL_MS,
  };
}

export function applyServerLimits(server: http.Server): void {
  server.maxHeadersCount = MAX_HEADER_COUNT;
  server.on('clientError', answerClientError);
}

/**
 * What Node's own clientError handling does (answer, then close), except that the answer
 * carries a JSON `message` like every other 4xx, and that a request already handed to the
 * app keeps its own answer. Node would write its 400 in front of that answer, so the client
 * takes the request for refused while its handler goes on, e.g. cancelling a job (issue 9's
 * fuzz test found this for garbage pipelined behind a request, and for a broken body).
 */
function answerClientError(err: NodeJS.ErrnoException, socket: Duplex): void {
  const inFlight = (socket as Duplex & { _httpMessage?: http.ServerResponse })._httpMessage;
  if (inFlight && !inFlight.writableFinished) {
    // The request was handed to the app: it answers, then the connection closes. If its own
    // body is what failed to parse, its body reader learns it (and answers 400); a handler
    // that reads no body answers as it would have.
    inFlight.shouldKeepAlive = false;
    const close = () => socket.destroy();
    inFlight.once('finish', close);
    inFlight.once('close', close);
    setTimeout(close, IN_FLIGHT_GRACE_MS).unref();
    const { req } = inFlight;
    if (!req.complete && req.listenerCount('error') > 0) {
      const [status, message] = clientErrorStatus(err.code);
      req.emit('error', Object.assign(new Error(message), { status }));
    }
    return;
  }
  if (err.code !== 'ECONNRESET' && socket.writable) writeRefusal(socket, ...clientErrorStatus(err.code));
  socket.destroy();
}

/** How long a request in flight on a connection whose bytes stopped parsing may take to answer. */
const IN_FLIGHT_GRACE_MS = 10_000;

function writeRefusal(socket: Duplex, status: number, message: string): void {
  const body = JSON.stringify({ message: `${status} ${message}` });
  socket.write(
    `HTTP/1.1 ${status} ${http.STATUS_CODES[status]}\r\nContent-Type: application/json\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`,
  );
}

function clientErrorStatus(code: string | undefined): [number, string] {
  switch (code) {
    case 'HPE_HEADER_OVERFLOW':
      return [431, `Request Header Fields Too Large - at most ${MAX_HEADER_BYTES} bytes of headers`];
    case 'HPE_CHUNK_EXTENSIONS_OVERFLOW':
      return [413, 'Request Entity Too Large'];
    case 'ERR_HTTP_REQUEST_TIMEOUT':
      return [408, 'Request Timeout - the request did not arrive in time'];
    default:
      return [400, 'Bad request - malformed HTTP'];
  }
}
