import type { Knex } from 'knex';
import { TRIGGER_TOKEN_PREFIX_LENGTH } from './triggers.js';
import { tokenDigest } from './tokenDigests.js';
import { tokenVaultOf } from './tokenVault.js';

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

/**
 * Migration 007 (build tokens, projects' runners tokens, the instance's generated tokens):
 * tokens the server must hand out again are sealed with the server secret (see
 * TokenVault) next to a digest for lookups; the registration and admin tokens it generated
 * are only ever compared, so only their digests stay. Same care as above: renames, no
 * rebuild (a rebuilt `builds` would cascade into trace_chunks), secure_delete on SQLite.
 */
export const sealedTokenMigration = {
  async up(db: Knex): Promise<void> {
    const vault = tokenVaultOf(db);
    await withSecureDelete(db, async () => {
      await db.schema.alterTable('builds', (t) => t.renameColumn('token', 'token_digest'));
      await db.schema.alterTable('builds', (t) => {
        t.text('token_sealed');
      });
      await db.schema.alterTable('projects', (t) => t.renameColumn('runners_token', 'runners_token_digest'));
      await db.schema.alterTable('projects', (t) => {
        t.text('runners_token_sealed');
      });
      const sealed = (token: string) => ({ digest: tokenDigest(token), sealed: vault.seal(token) });
      await rewriteEachRow(db, 'builds', 'token_digest', (token) => {
        const { digest, sealed: value } = sealed(token);
        return { token_digest: digest, token_sealed: value };
      });
      await rewriteEachRow(db, 'projects', 'runners_token_digest', (token) => {
        const { digest, sealed: value } = sealed(token);
        return { runners_token_digest: digest, runners_token_sealed: value };
      });
      for (const name of ['registration_token', 'admin_token']) {
        const row: { value: string } | undefined = await db('settings').where({ key: name }).first('value');
        if (!row) continue;
        await db('settings').insert({ key: `${name}_digest`, value: tokenDigest(row.value) }).onConflict('key').ignore();
        await db('settings').where({ key: name }).delete();
      }
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
