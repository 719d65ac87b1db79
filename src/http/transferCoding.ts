import type Koa from 'koa';
import { HttpError } from './errors.js';

/**
 * RFC 9112 §6.3: a request whose Transfer-Encoding does not end in `chunked` has no length a
 * server can read, and gets 400 with the connection closed. Node hands such a request to the
 * app before its parser fails on the body, and then answers 400 itself (serverLimits.ts) while
 * the handler goes on: so the request is refused here, before any handler can act on it
 * (issue 9's fuzz test found a job canceled by a request answered 400).
 */
export function transferCodingGuard(): Koa.Middleware {
  return async (ctx, next) => {
    const codings = ctx.req.headers['transfer-encoding'];
    if (codings !== undefined && !/(^|,)\s*chunked\s*$/i.test(codings)) {
      ctx.set('Connection', 'close');
      throw new HttpError(400, '400 Bad request - Transfer-Encoding must end in chunked');
    }
    await next();
  };
}
