import { tokenDigest } from '../store/tokenDigests.js';
import { AUTHENTICATION_TOKEN_PREFIX } from './runnerRegistration.js';
import { GENERATED_TOKEN_LENGTH } from './tokens.js';

/**
 * GitLab 8.12+'s `Ci::MaskSecret`: every occurrence of a secret in a trace becomes
 * the same number of `x`, so byte offsets (and the runner's Content-Range) stay valid.
 *
 * A secret split across two PATCHes is masked too (GitLab 8.x missed it): see
 * appendMaskedChunk in traces.ts, which keeps the last window of bytes open for that.
 */
export function maskSecrets(data: Buffer, secrets: readonly string[]): Buffer {
  let masked: Buffer | undefined;
  for (const secret of secrets) {
    if (!secret) continue;
    const needle = Buffer.from(secret, 'utf8');
    let at = (masked ?? data).indexOf(needle);
    while (at !== -1) {
      // Copy on the first hit only: most chunks hold no secret and are stored as given.
      masked ??= Buffer.from(data);
      masked.fill('x', at, at + needle.length);
      at = masked.indexOf(needle, at + needle.length);
    }
  }
  return masked ?? data;
}

/**
 * Variable values shorter than this are not masked. GitLab 8.15 masked only tokens; a
 * short value (`1`, `true`, `prod`) also occurs in ordinary output, and masking every
 * occurrence would wreck traces (`production` → `xxxxuction`) while hiding little.
 * Eight is GitLab's own later minimum for masked variables (11.10+).
 */
export const MIN_MASKED_VALUE_LENGTH = 8;

/**
 * What a build's trace must not show: `literal` strings, masked wherever they occur (its
 * tokens, always, and the variable values of at least MIN_MASKED_VALUE_LENGTH characters),
 * and the tokens of which only `digests` are kept (runner, trigger and generated instance
 * tokens: see maskTokensByDigest).
 */
export interface TraceSecrets {
  literal: string[];
  digests: ReadonlySet<string>;
}

/**
 * The TraceSecrets of these tokens, variable values and token digests. Literals longest
 * first, so that a secret containing another is masked whole rather than leaving its tail
 * visible.
 */
export function traceSecretSet(tokens: readonly string[], variableValues: readonly string[], digests: Iterable<string> = []): TraceSecrets {
  const values = variableValues.filter((value) => value.length >= MIN_MASKED_VALUE_LENGTH);
  const literal = [...new Set([...tokens, ...values])].filter((secret) => secret !== '').sort((a, b) => b.length - a.length);
  return { literal, digests: new Set(digests) };
}

/** Every secret of `secrets` masked in `data`: the literal ones, then the tokens known by digest. */
export function maskTrace(data: Buffer, secrets: TraceSecrets): Buffer {
  return maskTokensByDigest(maskSecrets(data, secrets.literal), secrets.digests);
}

// The tokens we generate: lowercase hex (newToken), `glrt-` before it for a runner made by a user.
/** The longest token maskTokensByDigest finds, less one byte: what it needs of the trace before a chunk. */
const DIGEST_TOKEN_WINDOW = AUTHENTICATION_TOKEN_PREFIX.length + GENERATED_TOKEN_LENGTH - 1;

/**
 * Masks the tokens of which the database keeps only SHA-256 digests (the build's runner's
 * token, the project's trigger tokens, generated registration and admin tokens): a token
 * cannot be searched for, but each run of lowercase hex can be hashed and looked up. A run's
 * first and last 30 characters are the candidates (with `glrt-` when it stands before them),
 * which finds every such token between non-hex characters or at either end of a longer hex
 * run, at most two digests per 30 bytes of hex, so the cost stays O(chunk). A match is the
 * token itself, byte for byte, so masking it is never wrong; a token in the middle of a
 * longer hex run is not found (literal secrets have no such gap).
 */
export function maskTokensByDigest(data: Buffer, digests: ReadonlySet<string>): Buffer {
  if (digests.size === 0 || data.length < GENERATED_TOKEN_LENGTH) return data;
  let masked: Buffer | undefined;
  // A plain loop over the bytes, not a regular expression: a 16 MiB run of hex overflows the
  // regexp engine's stack (found by a 16 MiB PATCH of hex while measuring this).
  for (let at = 0; at < data.length; ) {
    if (!isLowerHex(data[at]!)) {
      at++;
      continue;
    }
    const runStart = at;
    while (at < data.length && isLowerHex(data[at]!)) at++;
    if (at - runStart < GENERATED_TOKEN_LENGTH) continue;
    for (const start of new Set([runStart, at - GENERATED_TOKEN_LENGTH])) {
      const from = tokenStartAt(data, start, digests);
      if (from === undefined) continue;
      masked ??= Buffer.from(data);
      masked.fill('x', from, start + GENERATED_TOKEN_LENGTH);
    }
  }
  return masked ?? data;
}

/** Where the token of ours ending GENERATED_TOKEN_LENGTH bytes after `start` begins (at `start`, or at its `glrt-`), if it is one. */
function tokenStartAt(data: Buffer, start: number, digests: ReadonlySet<string>): number | undefined {
  const bare = data.toString('latin1', start, start + GENERATED_TOKEN_LENGTH);
  if (digests.has(tokenDigest(bare))) return start;
  const prefixAt = start - AUTHENTICATION_TOKEN_PREFIX.length;
  if (prefixAt < 0 || data.toString('latin1', prefixAt, start) !== AUTHENTICATION_TOKEN_PREFIX) return undefined;
  return digests.has(tokenDigest(AUTHENTICATION_TOKEN_PREFIX + bare)) ? prefixAt : undefined;
}

function isLowerHex(byte: number): boolean {
  return (byte >= 0x30 && byte <= 0x39) || (byte >= 0x61 && byte <= 0x66);
}

/**
 * How many bytes at the end of a trace a secret can still straddle: the longest literal
 * one's length less one, and at least the longest token found by digest less one.
 */
export function maskingWindow(secrets: TraceSecrets): number {
  let longest = 0;
  for (const secret of secrets.literal) longest = Math.max(longest, Buffer.byteLength(secret, 'utf8'));
  return Math.max(0, longest - 1, secrets.digests.size > 0 ? DIGEST_TOKEN_WINDOW : 0);
}

/** Masked bytes as [settled, tail]: the tail is the last `window` bytes (empty parts left out). */
export function splitMaskedTail(masked: Buffer, window: number): Buffer[] {
  const split = Math.max(0, masked.length - window);
  return [masked.subarray(0, split), masked.subarray(split)].filter((part) => part.length > 0);
}
