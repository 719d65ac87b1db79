/** Injectable time, so housekeeping and expiry can be tested without sleeping. */
export interface Clock {
  now(): Date;
}

export const systemClock: Clock = { now: () => new Date() };

/** Timestamps are stored as ISO-8601 UTC text: portable across SQLite and PostgreSQL, and sortable as strings. */
export function isoNow(clock: Clock): string {
  return clock.now().toISOString();
}
