// HTTP/1.1 written byte by byte on a TCP socket, for requests no HTTP client would send: overlong
// or unfinished headers, bodies that trickle in or never end, bodies larger than they declare.
import net from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';

export interface RawAnswer {
  status: number;
  headers: Record<string, string>;
  body: Buffer;
  /** The parsed JSON body, when it is JSON. */
  json: unknown;
  /** Bytes of the request the client had written when the answer was complete. */
  bytesWritten: number;
}

export interface RawRequest {
  /** The request line and headers, without the empty line that ends them. */
  head: string;
  /** Written one after another; a number is a pause in ms. Nothing more is written once the answer is complete. */
  body?: (Buffer | string | number)[];
  /** Leave out the empty line after the head (headers that never end). */
  unfinishedHead?: boolean;
  timeoutMs?: number;
  /** Done once the head of a successful answer is in (a download, an event stream): only refusals are read whole. */
  headOnlyUnlessError?: boolean;
}

/** Sends `request` to `baseUrl`'s host and port and reads one answer (until its length, or the close). */
export function rawExchange(baseUrl: string, request: RawRequest): Promise<RawAnswer> {
  const url = new URL(baseUrl);
  return new Promise<RawAnswer>((resolve, reject) => {
    const socket = net.connect(Number(url.port), url.hostname);
    let received = Buffer.alloc(0);
    let bytesWritten = 0;
    let done = false;
    const timer = setTimeout(() => finish(new Error(`no complete answer within ${request.timeoutMs ?? 10_000} ms`)), request.timeoutMs ?? 10_000);

    function finish(err?: Error): void {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      if (err) {
        reject(err);
        return;
      }
      const answer = parseAnswer(received);
      if (!answer) reject(new Error(`no HTTP answer, got ${JSON.stringify(received.toString('latin1').slice(0, 200))}`));
      else resolve({ ...answer, bytesWritten });
    }

    socket.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      const answer = parseAnswer(received);
      if (answer && (answer.complete || (request.headOnlyUnlessError && answer.status < 400))) finish();
    });
    socket.on('error', () => finish());
    socket.on('close', () => finish());
    socket.on('connect', () => {
      void (async () => {
        const head = `${request.head}\r\n${request.unfinishedHead ? '' : '\r\n'}`;
        const write = (data: Buffer | string) =>
          new Promise<void>((resolveWrite) => {
            if (done || socket.destroyed) return resolveWrite();
            bytesWritten += Buffer.byteLength(data);
            socket.write(data, () => resolveWrite());
          });
        await write(head);
        for (const part of request.body ?? []) {
          if (done) return;
          if (typeof part === 'number') await sleep(part);
          else await write(part);
        }
      })();
    });
  });
}

function parseAnswer(bytes: Buffer): (Omit<RawAnswer, 'bytesWritten'> & { complete: boolean }) | undefined {
  const end = bytes.indexOf('\r\n\r\n');
  if (end === -1) return undefined;
  const [statusLine = '', ...lines] = bytes.subarray(0, end).toString('latin1').split('\r\n');
  const status = Number(statusLine.split(' ')[1]);
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  const body = bytes.subarray(end + 4);
  const length = headers['content-length'] === undefined ? undefined : Number(headers['content-length']);
  const complete = length !== undefined && body.length >= length;
  let json: unknown;
  if ((headers['content-type'] ?? '').startsWith('application/json') && complete) {
    try {
      json = JSON.parse(body.subarray(0, length).toString('utf8'));
    } catch {
      json = undefined;
    }
  }
  return { status, headers, body: length === undefined ? body : body.subarray(0, length), json, complete };
}
