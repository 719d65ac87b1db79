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
 * What a build's trace must not show: its tokens, always, and the variable values of at
 * least MIN_MASKED_VALUE_LENGTH characters. Longest first, so that a secret containing
 * another is masked whole rather than leaving its tail visible.
 */
export function traceSecretSet(tokens: readonly string[], variableValues: readonly string[]): string[] {
  const values = variableValues.filter((value) => value.length >= MIN_MASKED_VALUE_LENGTH);
  return [...new Set([...tokens, ...values])].sort((a, b) => b.length - a.length);
}

/** How many bytes at the end of a trace a secret can still straddle: the longest one's length less one. */
export function maskingWindow(secrets: readonly string[]): number {
  let longest = 0;
  for (const secret of secrets) longest = Math.max(longest, Buffer.byteLength(secret, 'utf8'));
  return Math.max(0, longest - 1);
}

/** Masked bytes as [settled, tail]: the tail is the last `window` bytes (empty parts left out). */
export function splitMaskedTail(masked: Buffer, window: number): Buffer[] {
  const split = Math.max(0, masked.length - window);
  return [masked.subarray(0, split), masked.subarray(split)].filter((part) => part.length > 0);
}
