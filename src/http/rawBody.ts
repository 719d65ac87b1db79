import type Koa from 'koa';
import getRawBody from 'raw-body';

/**
 * Reads the request body as bytes, whatever its Content-Type, refusing it with 413 as soon
 * as it grows past `limit` (or at once when Content-Length says it will). raw-body's errors
 * carry their status, which errorMiddleware turns into the JSON answer and `Connection: close`.
 */
export function readRawBody(ctx: Koa.Context, limit: number): Promise<Buffer> {
  if (!ctx.req.readable) {
    // Its operation's reading must leave the body unread (`raw`); anything else is our bug.
    throw new Error(`the body of ${ctx.method} ${ctx.path} was read before its handler`);
  }
  const declared = ctx.get('Content-Length');
  return getRawBody(ctx.req, { limit, ...(declared ? { length: declared } : {}) });
}
