import { randomBytes, timingSafeEqual, createHash } from 'node:crypto';
import { digestsEqual, tokenDigest } from '../store/tokenDigests.js';

/** The length of newToken's tokens (lowercase hex; the trace masker looks for it). */
export const GENERATED_TOKEN_LENGTH = 30;

/** 30 lowercase hex characters, like GitLab's runner and runners tokens. */
export function newToken(): string {
  return randomBytes(GENERATED_TOKEN_LENGTH / 2).toString('hex');
}

/**
 * Constant-time equality. Both sides are hashed first so that neither the
 * content nor the length of the secret leaks through timing.
 */
export function tokensEqual(given: string | undefined | null, secret: string | undefined | null): boolean {
  if (!given || !secret) return false;
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

/** Whether `given` is the token whose SHA-256 digest is `digest`, in constant time. */
export function tokenMatchesDigest(given: string | undefined | null, digest: string): boolean {
  return !!given && digestsEqual(digest, tokenDigest(given));
}
