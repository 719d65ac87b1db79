/**
 * Bringing the schema up to date at start-up, safely when several server processes start
 * together on one database.
 *
 * Knex's migration lock (a row in knex_migrations_lock, taken inside the migrations' own
 * transaction) keeps two processes from running a migration twice: the second one waits for the
 * first one's commit (PostgreSQL's row lock; SQLite's write lock and busy_timeout) and then finds
 * nothing left to do. Around it: knex makes its own two tables with a check-then-create, which two
 * processes starting on an empty database can race (both create; or both insert a lock row, after
 * which the lock can never be taken). So those tables are made here first, race-free, and on
 * PostgreSQL the whole start-up migration also holds an advisory lock.
 */
import type { Knex } from 'knex';
import type { Db } from './db.js';
import { ADVISORY_LOCKS, withDatabaseLock } from './dialect.js';
import { migrationSource } from './migrations.js';

/** Attempts at a start-up migration that met another process's (busy database, lock taken). */
const ATTEMPTS = 10;
const RETRY_DELAY_MS = 500;

export async function migrateToLatest(db: Db): Promise<void> {
  await withDatabaseLock(db, ADVISORY_LOCKS.migrations, async () => {
    for (let attempt = 1; ; attempt++) {
      try {
        await createMigrationLockTable(db);
        await db.migrate.latest({ migrationSource });
        return;
      } catch (err) {
        if (attempt >= ATTEMPTS || !isAnotherProcessMigrating(err)) throw err;
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS));
      }
    }
  });
}

/**
 * Knex's lock table, as knex makes it, with its one row at a fixed key, so that a second row can
 * never appear: the insert ignores the duplicate atomically. Of two processes creating the
 * table at once, one fails with "already exists" and tries again (knex then finds the table and
 * the row in place).
 */
async function createMigrationLockTable(db: Db): Promise<void> {
  if (!(await db.schema.hasTable('knex_migrations_lock'))) {
    await db.schema.createTable('knex_migrations_lock', (t: Knex.CreateTableBuilder) => {
      t.increments('index').primary();
      t.integer('is_locked');
    });
  }
  await db('knex_migrations_lock').insert({ index: 1, is_locked: 0 }).onConflict('index').ignore();
}

/** Knex's "already locked", SQLite's busy database, and the losing side of knex's create-table race. */
function isAnotherProcessMigrating(err: unknown): boolean {
  const { name, code, message } = (err ?? {}) as { name?: unknown; code?: unknown; message?: unknown };
  return name === 'MigrationLocked' || code === 'SQLITE_BUSY' || (typeof message === 'string' && /already exists/.test(message));
}
