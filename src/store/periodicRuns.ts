import type { Db } from './db.js';

/**
 * Claims interval number `slot` of the periodic task `name` (e.g. floor(now / interval)) for the
 * caller. True for exactly one caller per slot, however many server processes ask: the claim is
 * one conditional UPDATE, which on PostgreSQL waits for a competing one to commit and then finds
 * the slot taken, and on SQLite runs under the file's write lock.
 */
export async function claimPeriodicSlot(db: Db, name: string, slot: number): Promise<boolean> {
  await db('periodic_runs').insert({ name, last_slot: -1 }).onConflict('name').ignore();
  const updated = await db('periodic_runs').where({ name }).andWhere('last_slot', '<', slot).update({ last_slot: slot });
  return updated === 1;
}
