import { hash, timingSafeEqual } from 'node:crypto';
import type { Knex } from 'knex';

/**
 * What the database keeps of a token it must only recognise (runner, trigger, and the
 * lookup of any other): the SHA-256 digest, as 64 lowercase hex characters. Our tokens
 * carry 120 random bits, so a plain digest needs neither salt nor stretching, and a
 * lookup by digest stays one indexed equality.
 */
export function tokenDigest(token: string): string {
  // The one-shot hash (a string is hashed as UTF-8): no Hash object per runner poll.
  return hash('sha256', token, 'hex');
}

/**
 * The one token → row lookup: the row of `table` whose `column` holds the digest of
 * `token`. The index finds the row; the digests are then compared once more in constant
 * time, so that a collation matching loosely (case, trailing spaces) can never let a
 * different token in.
 */
export async function findRowByToken(
  db: Knex | Knex.Transaction,
  table: string,
  column: string,
  token: string,
  where: Record<string, unknown> = {},
): Promise<Record<string, unknown> | undefined> {
  if (token === '') return undefined;
  const digest = tokenDigest(token);
  const row: Record<string, unknown> | undefined = await db(table).where({ ...where, [column]: digest }).first();
  if (!row || !digestsEqual(String(row[column]), digest)) return undefined;
  return row;
}

/** Constant-time equality of two hex digests (false for any length mismatch). */
export function digestsEqual(stored: string, given: string): boolean {
  const a = Buffer.from(stored, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
