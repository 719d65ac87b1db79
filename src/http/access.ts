import type Koa from 'koa';
import type { Context as OpenApiContext } from 'openapi-backend';
import { csrfTokenMatches, roleOf, type AccessTokens, type Role } from '../domain/access.js';
import { HttpError } from './errors.js';

/** The web session's cookie: the admin or viewer token, HttpOnly and SameSite=Strict. */
export const SESSION_COOKIE = 'ci_session';

/** Who made a user-API request, and how they proved it. */
export interface Principal {
  role: Role;
  via: 'header' | 'cookie';
  token: string;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/** openapi-backend security handlers for the two schemes of openapi.yaml. */
export function securityHandlers(tokens: AccessTokens) {
  return {
    privateToken: (c: OpenApiContext): Principal | false => {
      const value = c.request.headers['private-token'];
      const token = Array.isArray(value) ? value[0] : value;
      const role = roleOf(token, tokens);
      return role && token ? { role, via: 'header', token } : false;
    },
    sessionCookie: (_c: OpenApiContext, ctx: Koa.Context): Principal | false => {
      const token = ctx.cookies.get(SESSION_COOKIE);
      const role = roleOf(token, tokens);
      return role && token ? { role, via: 'cookie', token } : false;
    },
  };
}

/** The principal that authenticated this request, if its operation requires one. */
export function principalOf(ctx: Koa.Context): Principal | undefined {
  return ctx.state.principal as Principal | undefined;
}

interface AccessRules {
  /** Only the admin may call it, reading or not (secret variables, trigger tokens). */
  'x-admin-only'?: boolean;
  /** The viewer may call it although it is not a GET (lint changes nothing). */
  'x-viewer-allowed'?: boolean;
}

/**
 * After openapi-backend found a valid token: a viewer may only read (and not even that
 * where the operation is `x-admin-only`), and a request that changes something on the
 * strength of the session cookie must carry the session's CSRF token. The PRIVATE-TOKEN
 * header needs none: another site's page cannot set it.
 */
export function enforceAccess(c: OpenApiContext, ctx: Koa.Context): void {
  if (!c.operation.security || c.operation.security.length === 0) return;
  const results = (c.security ?? {}) as Record<string, unknown>;
  const principal = [results.privateToken, results.sessionCookie].find(isPrincipal);
  if (!principal) throw new HttpError(401, '401 Unauthorized');
  ctx.state.principal = principal;
  const rules = c.operation as AccessRules;
  const changes = !SAFE_METHODS.has(ctx.method);
  if (changes && principal.via === 'cookie' && !csrfTokenMatches(principal.token, ctx.get('X-CSRF-Token') || undefined)) {
    throw new HttpError(403, '403 Forbidden - CSRF token missing or invalid');
  }
  if (principal.role === 'viewer') {
    if (rules['x-admin-only']) throw new HttpError(403, '403 Forbidden - the viewer token may not see secrets');
    if (changes && !rules['x-viewer-allowed']) throw new HttpError(403, '403 Forbidden - the viewer token is read-only');
  }
}

function isPrincipal(value: unknown): value is Principal {
  return typeof value === 'object' && value !== null && 'role' in value && 'via' in value;
}
