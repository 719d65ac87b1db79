import type Koa from 'koa';
import getRawBody from 'raw-body';
import { HttpError } from './errors.js';

/**
 * Reads the request body as bytes, refusing it with 413 as soon as it grows past
 * `limit` (or at once when Content-Length says it will). raw-body's errors carry their
 * status, which errorMiddleware turns into the JSON answer and `Connection: close`.
 */
export function readRawBody(ctx: Koa.Context, limit: number): Promise<Buffer> {
  if (!ctx.req.readable) {
    // The JSON body parser got there first and the bytes are gone: refuse rather than guess.
    throw new HttpError(400, `400 Bad request - send this body as text/plain, not ${ctx.type}`);
  }
  const declared = ctx.get('Content-Length');
  return getRawBody(ctx.req, { limit, ...(declared ? { length: declared } : {}) });
}
