import type Koa from 'koa';
import { csrfTokenFor, roleOf, type Role } from '../domain/access.js';
import { HttpError } from '../http/errors.js';
import { principalOf, SESSION_COOKIE } from '../http/access.js';
import type { AppDeps, JsonBody, JsonReply, OperationHandlers } from '../http/handlers.js';
import { sendJson, sendNoContent } from '../http/respond.js';

/** The web view's sign-in: the token goes into an HttpOnly, SameSite=Strict cookie. */
export function sessionHandlers({ tokens, config }: AppDeps): OperationHandlers {
  const access = { adminTokenDigest: tokens.adminTokenDigest, viewerToken: config.viewerToken };
  return {
    async createSession(c, ctx) {
      // A form posted from another site must not sign a browser in (login CSRF): forms
      // cannot send JSON without a CORS preflight, which we never allow.
      if (!ctx.is('application/json')) throw new HttpError(400, '400 Bad request - the body must be JSON');
      const { token } = c.request.requestBody as JsonBody<'createSession'>;
      const role = roleOf(token, access);
      if (!role) throw new HttpError(401, '401 Unauthorized');
      ctx.cookies.set(SESSION_COOKIE, token, {
        httpOnly: true,
        sameSite: 'strict',
        path: '/',
        secure: ctx.secure,
        overwrite: true,
      });
      sendJson(ctx, 201, session(role, token));
    },

    async getSession(_c, ctx) {
      const principal = principalOf(ctx);
      if (!principal) throw new HttpError(401, '401 Unauthorized');
      sendJson(ctx, 200, session(principal.role, principal.token));
    },

    async deleteSession(_c, ctx) {
      clearSessionCookie(ctx);
      sendNoContent(ctx);
    },
  };
}

function session(role: Role, token: string): JsonReply<'getSession', 200> {
  return { role, csrf_token: csrfTokenFor(token) };
}

function clearSessionCookie(ctx: Koa.Context): void {
  ctx.cookies.set(SESSION_COOKIE, null, { httpOnly: true, sameSite: 'strict', path: '/', secure: ctx.secure, overwrite: true });
}
