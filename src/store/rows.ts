/** SQLite answers booleans as 0/1, PostgreSQL as true/false. */
export function bool(value: unknown): boolean {
  return value === true || value === 1 || value === '1';
}

/** PostgreSQL answers bigint columns as strings. */
export function int(value: unknown): number {
  return typeof value === 'number' ? value : Number(value);
}

export function intOrNull(value: unknown): number | null {
  return value === null || value === undefined ? null : int(value);
}

export function json<T>(value: unknown, fallback: T): T {
  if (typeof value !== 'string' || value === '') return fallback;
  return JSON.parse(value) as T;
}
