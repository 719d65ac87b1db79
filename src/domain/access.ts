import { createHmac } from 'node:crypto';
import { tokenMatchesDigest, tokensEqual } from './tokens.js';

/**
 * Who a user-API caller is. The admin token may do everything; the viewer token
 * (CI_VIEWER_TOKEN) may read everything and change nothing.
 */
export type Role = 'admin' | 'viewer';

export interface AccessTokens {
  adminTokenDigest: string;
  viewerToken: string | undefined;
}

/** The role `token` opens, compared in constant time with each token. */
export function roleOf(token: string | undefined, tokens: AccessTokens): Role | undefined {
  if (tokenMatchesDigest(token, tokens.adminTokenDigest)) return 'admin';
  if (tokensEqual(token, tokens.viewerToken)) return 'viewer';
  return undefined;
}

/**
 * The CSRF token of a web session, derived from the session's token (an HMAC), so that
 * every server process agrees on it without shared state, and a page on another site,
 * which can neither read our cookie nor our replies, cannot produce it.
 */
export function csrfTokenFor(sessionToken: string): string {
  return createHmac('sha256', sessionToken).update('coordinator web session csrf v1').digest('base64url');
}

export function csrfTokenMatches(sessionToken: string, given: string | undefined): boolean {
  return tokensEqual(given, csrfTokenFor(sessionToken));
}
