import type Koa from 'koa';
import getRawBody from 'raw-body';
import { HttpError } from './errors.js';

/**
 * Reads a JSON body, also one sent without a Content-Type (which Grape read as JSON, the API's
 * default format; koa-body would not). Refused with 413 as soon as it grows past
 * `maxBodyBytes` (raw-body's error carries the status), with 400 when it is not JSON.
 */
export async function receiveJson(ctx: Koa.Context, maxBodyBytes: number): Promise<unknown> {
  const declared = ctx.get('Content-Length');
  const text = await getRawBody(ctx.req, { limit: maxBodyBytes, encoding: 'utf8', ...(declared ? { length: declared } : {}) });
  // An empty chunked body says nothing, as no body at all.
  if (text.trim() === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new HttpError(400, '400 Bad request - the body is not valid JSON');
  }
}
