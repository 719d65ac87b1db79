import type Koa from 'koa';

/**
 * Runners up to 1.9.1 accept only an exact `Content-Type: application/json`, so JSON
 * is serialised here and the header is set verbatim (Koa would add a charset).
 * Serialising ourselves also keeps a JSON `null` body from turning into a 204.
 */
export function sendJson(ctx: Koa.Context, status: number, value: unknown): void {
  ctx.status = status;
  ctx.body = JSON.stringify(value);
  ctx.set('Content-Type', 'application/json');
}

export function sendText(ctx: Koa.Context, status: number, text: string): void {
  ctx.status = status;
  ctx.body = text;
  ctx.set('Content-Type', 'text/plain');
}

/** An empty 204: no body and no Content-Type, as Rack sent it. */
export function sendNoContent(ctx: Koa.Context): void {
  ctx.status = 204;
  ctx.body = null;
}
