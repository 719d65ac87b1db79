/**
 * Database errors that are not our bug: the database is away (PostgreSQL down or unreachable,
 * its connections exhausted, SQLite locked past busy_timeout), or a number a client sent is out
 * of a column's range and so names nothing stored.
 */

/** Node's socket errors when the PostgreSQL connection is refused, cut or times out. */
const SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * PostgreSQL's SQLSTATEs for the same: class 08 (connection exception), the server shutting
 * down or starting up (57P01..57P03), too many connections (53300).
 */
const UNAVAILABLE_SQLSTATES = /^(08...|57P0[123]|53300)$/;

/** pg's own words when the server goes away mid-connection, and knex's pool timing out. */
const UNAVAILABLE_MESSAGES = /^(Connection terminated|Client has encountered a connection error|Connection ended unexpectedly|timeout expired|Knex: Timeout acquiring a connection|Unable to acquire a connection)/;

export function isDatabaseUnavailable(err: unknown): boolean {
  const { code, name, message } = (err ?? {}) as { code?: unknown; name?: unknown; message?: unknown };
  if (typeof code === 'string' && (SOCKET_CODES.has(code) || UNAVAILABLE_SQLSTATES.test(code) || code === 'SQLITE_BUSY')) return true;
  if (name === 'KnexTimeoutError') return true;
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}

/** PostgreSQL's numeric_value_out_of_range: e.g. an id past the 32-bit id columns (SQLite simply finds no row). */
export function isValueOutOfRange(err: unknown): boolean {
  return (err as { code?: unknown } | undefined)?.code === '22003';
}

/**
 * PostgreSQL's text cannot hold a NUL character (22021, and 22P05 for an untranslatable one),
 * which SQLite stores or compares like any other: text from a request with one is refused.
 */
export function isUnstorableText(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return code === '22021' || code === '22P05';
}
