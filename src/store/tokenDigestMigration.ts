import type { Knex } from 'knex';
import { TRIGGER_TOKEN_PREFIX_LENGTH } from './triggers.js';
import { tokenDigest } from './tokenDigests.js';

const BATCH = 500;

/**
 * Migration 007 (runner and trigger tokens): each `token` column becomes `token_digest`
 * and every stored token is replaced by its SHA-256 digest, row by row, keeping every
 * row. RENAME COLUMN is native on both stores (SQLite 3.25+): no table is rebuilt, so no
 * foreign key cascades (a rebuilt `runners` would have emptied `builds.runner_id`).
 * On SQLite, secure_delete makes the old index entries and cells be zeroed as they are
 * replaced, instead of lingering in free space of the file.
 */
export const tokenDigestMigration = {
  async up(db: Knex): Promise<void> {
    await withSecureDelete(db, async () => {
      await db.schema.alterTable('runners', (t) => t.renameColumn('token', 'token_digest'));
      await db.schema.alterTable('triggers', (t) => {
        t.renameColumn('token', 'token_digest');
      });
      await db.schema.alterTable('triggers', (t) => {
        t.string('token_prefix', 8);
      });
      await rewriteEachRow(db, 'runners', 'token_digest', (token) => ({ token_digest: tokenDigest(token) }));
      await rewriteEachRow(db, 'triggers', 'token_digest', (token) => ({
        token_digest: tokenDigest(token),
        token_prefix: token.slice(0, TRIGGER_TOKEN_PREFIX_LENGTH),
      }));
    });
  },
  async down(): Promise<void> {
    throw new Error('migration 007 cannot be undone: the plain tokens are gone by design');
  },
};

/** Updates every row of `table` from the value of `column`, in id order and in batches. */
export async function rewriteEachRow(
  db: Knex,
  table: string,
  column: string,
  change: (value: string, row: Record<string, unknown>) => Record<string, unknown>,
): Promise<void> {
  let after = 0;
  for (;;) {
    const rows: Record<string, unknown>[] = await db(table).where('id', '>', after).orderBy('id').limit(BATCH).select('id', column);
    for (const row of rows) {
      await db(table).where({ id: row.id }).update(change(String(row[column]), row));
    }
    if (rows.length < BATCH) return;
    after = Number(rows[rows.length - 1]!.id);
  }
}

/** Runs `work` with SQLite's secure_delete on, then restores its setting; elsewhere just runs it. */
export async function withSecureDelete(db: Knex, work: () => Promise<void>): Promise<void> {
  if (db.client.config.client !== 'sqlite3') return work();
  const [before] = (await db.raw('PRAGMA secure_delete')) as { secure_delete: number }[];
  await db.raw('PRAGMA secure_delete = ON');
  try {
    await work();
  } finally {
    await db.raw(`PRAGMA secure_delete = ${before?.secure_delete ? 'ON' : 'OFF'}`);
  }
}
