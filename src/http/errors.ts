import type Koa from 'koa';
import { sendJson } from './respond.js';
import { isDatabaseUnavailable, isUnstorableText, isValueOutOfRange } from '../store/errors.js';

/** An error that becomes an HTTP answer `{"message": ...}` with the given status. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Record<string, string> = {},
    /** More fields for the JSON body, e.g. `errors` of an invalid .gitlab-ci.yml. */
    readonly details: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

// GitLab's own wording, which runner tooling and GitLab's request specs match on.
export const badRequest = (what: string) => new HttpError(400, `400 (Bad request) "${what}" not given`);
export const forbidden = (reason?: string) =>
  new HttpError(403, reason ? `403 Forbidden  - ${reason}` : '403 Forbidden');
export const notFound = () => new HttpError(404, '404 Not Found');
export const tooLarge = () => new HttpError(413, '413 Request Entity Too Large');

interface StatusCarrier {
  status?: unknown;
  statusCode?: unknown;
  httpCode?: unknown;
  expose?: unknown;
  message?: unknown;
}

/**
 * Turns every thrown error into a JSON `{message}` answer. Client errors from the
 * body parsers (koa-body, raw-body, formidable) carry their status in different
 * fields; anything without one is our bug and answers 500 without detail.
 */
export function errorMiddleware(log: (line: string) => void, drainAllowanceBytes: number): Koa.Middleware {
  return async (ctx, next) => {
    try {
      await next();
    } catch (caught) {
      const err = (caught ?? {}) as StatusCarrier;
      if (caught instanceof HttpError) {
        ctx.set(caught.headers);
        sendJson(ctx, caught.status, { message: caught.message, ...caught.details });
        return;
      }
      const status = clientStatusOf(err);
      if (status !== undefined) {
        // The router records the body limit of the operation (bodyLimits.ts) in ctx.state.
        const bodyLimit = typeof ctx.state.bodyLimit === 'number' ? ctx.state.bodyLimit : 0;
        if (status === 413) closeUnlessShortRemainder(ctx, bodyLimit + drainAllowanceBytes);
        sendJson(ctx, status, { message: messageFor(status, err) });
        return;
      }
      if (answerDatabaseError(ctx, caught, log)) return;
      log(`error: ${ctx.method} ${ctx.path}: ${caught instanceof Error ? caught.stack : String(caught)}`);
      sendJson(ctx, 500, { message: '500 Internal Server Error' });
    }
  };
}

/** Seconds a client is asked to wait before retrying while the database is away. */
const RETRY_AFTER_SECONDS = '5';

/**
 * The database being away is an outage, not our bug: 503 with a message, and the client (a
 * runner retries on its own) tries again later. A number out of a column's range names no row:
 * 404, as on SQLite, which simply finds nothing.
 */
function answerDatabaseError(ctx: Koa.Context, caught: unknown, log: (line: string) => void): boolean {
  if (isDatabaseUnavailable(caught)) {
    log(`database unavailable: ${ctx.method} ${ctx.path}: ${caught instanceof Error ? caught.message : String(caught)}`);
    ctx.set('Retry-After', RETRY_AFTER_SECONDS);
    sendJson(ctx, 503, { message: '503 Service Unavailable: the database is unavailable' });
    return true;
  }
  if (isValueOutOfRange(caught)) {
    sendJson(ctx, 404, { message: '404 Not Found' });
    return true;
  }
  if (isUnstorableText(caught)) {
    sendJson(ctx, 400, { message: '400 (Bad request) text with a NUL character' });
    return true;
  }
  return false;
}

/**
 * After a 413, a body that declared a length only a little over the limit is read to its
 * end and thrown away (Node does that once the answer is sent), so that the client, or a
 * proxy in front of us, can finish writing, read the 413 and keep its connection.
 * Anything bigger, or of unknown length, gets `Connection: close` instead: we never read
 * an unbounded body just to be polite.
 */
function closeUnlessShortRemainder(ctx: Koa.Context, drainLimitBytes: number): void {
  const declared = Number(ctx.get('Content-Length'));
  if (!(Number.isSafeInteger(declared) && declared > 0 && declared <= drainLimitBytes)) ctx.set('Connection', 'close');
}

function clientStatusOf(err: StatusCarrier): number | undefined {
  for (const value of [err.status, err.statusCode, err.httpCode]) {
    if (typeof value === 'number' && value >= 400 && value < 500) return value;
  }
  return undefined;
}

function messageFor(status: number, err: StatusCarrier): string {
  if (status === 413) return '413 Request Entity Too Large';
  const detail = typeof err.message === 'string' && err.message ? err.message : 'Bad request';
  return `${status} ${detail}`;
}
