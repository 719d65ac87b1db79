/**
 * GitLab 8.12+'s `Ci::MaskSecret`: every occurrence of a secret in a trace becomes
 * the same number of `x`, so byte offsets (and the runner's Content-Range) stay valid.
 *
 * Masking works on one chunk at a time. A secret split across two PATCHes can't be
 * masked in an append-only store without reading back what is stored, which GitLab
 * didn't do either; the runner's final full-trace PUT masks the whole text again.
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
