import type { Knex } from 'knex';
import { rewriteEachRow, withSecureDelete } from './tokenDigestMigration.js';
import { tokenVaultOf } from './tokenVault.js';
import { openPipelineVariables, sealPipelineVariables, type PipelineVariable } from './pipelines.js';
import { json } from './rows.js';

/**
 * Migration 008 (issue 9, secret variables): `variables.value` becomes `value_sealed` and
 * every stored value is sealed with the server secret's vault, as 007 did for build tokens:
 * a rename (no table rebuild), one row at a time, secure_delete on SQLite so that the old
 * cells are zeroed rather than left in free space; the WAL is emptied at start-up after it.
 */
export const sealedVariableMigration = {
  async up(db: Knex): Promise<void> {
    const vault = tokenVaultOf(db);
    await withSecureDelete(db, async () => {
      await db.schema.alterTable('variables', (t) => t.renameColumn('value', 'value_sealed'));
      await rewriteEachRow(db, 'variables', 'value_sealed', (value) => ({ value_sealed: vault.seal(value) }));
    });
  },
  async down(db: Knex): Promise<void> {
    const vault = tokenVaultOf(db);
    await rewriteEachRow(db, 'variables', 'value_sealed', (sealed) => ({ value_sealed: vault.open(sealed) }));
    await db.schema.alterTable('variables', (t) => t.renameColumn('value_sealed', 'value'));
  },
};

/**
 * Migration 008 (issue 9, request and trigger variables): `pipelines.variables` becomes
 * `variables_sealed`, each list sealed as a whole (an empty one stays `[]`), with the same
 * care as above.
 */
export const sealedPipelineVariablesMigration = {
  async up(db: Knex): Promise<void> {
    const vault = tokenVaultOf(db);
    await withSecureDelete(db, async () => {
      await db.schema.alterTable('pipelines', (t) => t.renameColumn('variables', 'variables_sealed'));
      await rewriteEachRow(db, 'pipelines', 'variables_sealed', (value) => ({ variables_sealed: sealPipelineVariables(vault, json<PipelineVariable[]>(value, [])) }));
    });
  },
  async down(db: Knex): Promise<void> {
    const vault = tokenVaultOf(db);
    await rewriteEachRow(db, 'pipelines', 'variables_sealed', (sealed) => ({ variables_sealed: JSON.stringify(openPipelineVariables(vault, sealed)) }));
    await db.schema.alterTable('pipelines', (t) => t.renameColumn('variables_sealed', 'variables'));
  },
};
