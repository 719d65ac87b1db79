import type { Knex } from 'knex';
import { sealedTokenMigration, tokenDigestMigration } from './tokenDigestMigration.js';
import { sealedPipelineVariablesMigration, sealedVariableMigration } from './variableSealingMigration.js';

/**
 * The schema, as code so that it ships inside the server. Timestamps are ISO-8601
 * UTC strings, JSON columns are text, booleans are native (0/1 on SQLite).
 */
const migrations: Record<string, { up(db: Knex): Promise<void>; down(db: Knex): Promise<void> }> = {
  '001_initial': {
    async up(db) {
      await db.schema.createTable('settings', (t) => {
        t.string('key').primary();
        t.text('value').notNullable();
      });
      await db.schema.createTable('projects', (t) => {
        t.increments('id');
        t.string('name', 255).notNullable();
        t.text('repo_url').notNullable();
        t.text('ci_config');
        t.string('runners_token', 64).notNullable().unique();
        t.boolean('shared_runners_enabled').notNullable().defaultTo(true);
        t.integer('build_timeout').notNullable().defaultTo(3600);
        t.boolean('build_allow_git_fetch').notNullable().defaultTo(true);
        t.boolean('pending_delete').notNullable().defaultTo(false);
        t.string('created_at', 32).notNullable();
      });
      await db.schema.createTable('runners', (t) => {
        t.increments('id');
        t.string('token', 64).notNullable().unique();
        t.text('description');
        t.boolean('is_shared').notNullable();
        t.boolean('active').notNullable().defaultTo(true);
        t.boolean('locked').notNullable().defaultTo(false);
        t.boolean('run_untagged').notNullable().defaultTo(true);
        t.text('tag_list').notNullable().defaultTo('[]');
        t.string('name');
        t.string('version');
        t.string('revision');
        t.string('platform');
        t.string('architecture');
        t.string('contacted_at', 32);
        t.string('created_at', 32).notNullable();
      });
      await db.schema.createTable('runner_projects', (t) => {
        t.integer('runner_id').notNullable().references('runners.id').onDelete('CASCADE');
        t.integer('project_id').notNullable().references('projects.id').onDelete('CASCADE');
        t.primary(['runner_id', 'project_id']);
        t.index(['project_id']);
      });
      await db.schema.createTable('pipelines', (t) => {
        t.increments('id');
        t.integer('project_id').notNullable().references('projects.id').onDelete('CASCADE');
        t.string('ref', 255).notNullable();
        t.string('sha', 40).notNullable();
        t.string('before_sha', 40).notNullable();
        t.boolean('tag').notNullable().defaultTo(false);
        t.string('status', 16).notNullable();
        t.text('variables').notNullable().defaultTo('[]');
        t.string('created_at', 32).notNullable();
        t.string('updated_at', 32).notNullable();
        t.index(['project_id', 'id']);
      });
      await db.schema.createTable('builds', (t) => {
        t.increments('id');
        t.integer('pipeline_id').notNullable().references('pipelines.id').onDelete('CASCADE');
        t.integer('project_id').notNullable().references('projects.id').onDelete('CASCADE');
        t.string('name', 255).notNullable();
        t.string('stage', 255).notNullable();
        t.integer('stage_idx').notNullable();
        t.string('status', 16).notNullable();
        t.string('when', 16).notNullable().defaultTo('on_success');
        t.boolean('allow_failure').notNullable().defaultTo(false);
        t.string('ref', 255).notNullable();
        t.boolean('tag').notNullable().defaultTo(false);
        t.text('commands').notNullable();
        t.text('options').notNullable().defaultTo('{}');
        t.text('yaml_variables').notNullable().defaultTo('[]');
        t.text('tag_list').notNullable().defaultTo('[]');
        t.string('token', 64).notNullable().unique();
        t.integer('runner_id').references('runners.id').onDelete('SET NULL');
        // Bytes of trace stored in trace_chunks; the range check compares against it.
        t.bigInteger('trace_length').notNullable().defaultTo(0);
        t.text('artifacts_filename');
        t.bigInteger('artifacts_size');
        t.string('artifacts_expire_at', 32);
        t.string('created_at', 32).notNullable();
        t.string('queued_at', 32);
        t.string('started_at', 32);
        t.string('finished_at', 32);
        t.string('updated_at', 32).notNullable();
        t.string('erased_at', 32);
        t.index(['status', 'runner_id']);
        t.index(['pipeline_id', 'stage_idx']);
        t.index(['project_id', 'status']);
      });
      // A trace is the concatenation of its chunks in id order: appends insert a row
      // and never rewrite what is stored.
      await db.schema.createTable('trace_chunks', (t) => {
        t.increments('id');
        t.integer('build_id').notNullable().references('builds.id').onDelete('CASCADE');
        t.binary('data').notNullable();
        t.index(['build_id', 'id']);
      });
    },
    async down(db) {
      for (const table of ['trace_chunks', 'builds', 'pipelines', 'runner_projects', 'runners', 'projects', 'settings']) {
        await db.schema.dropTableIfExists(table);
      }
    },
  },
  '002_operations': {
    async up(db) {
      await db.schema.createTable('variables', (t) => {
        t.increments('id');
        t.integer('project_id').notNullable().references('projects.id').onDelete('CASCADE');
        t.string('key', 255).notNullable();
        t.text('value').notNullable();
        t.unique(['project_id', 'key']);
      });
      await db.schema.createTable('triggers', (t) => {
        t.increments('id');
        t.integer('project_id').notNullable().references('projects.id').onDelete('CASCADE');
        t.string('token', 64).notNullable().unique();
        t.string('description', 255);
        t.string('created_at', 32).notNullable();
      });
      await db.schema.alterTable('pipelines', (t) => {
        // Set for pipelines made by a trigger: their variables are trigger variables and
        // their builds get CI_BUILD_TRIGGERED.
        t.integer('trigger_id').references('triggers.id').onDelete('SET NULL');
        t.boolean('triggered').notNullable().defaultTo(false);
      });
      await db.schema.alterTable('builds', (t) => {
        t.index(['status', 'updated_at']);
        t.index(['artifacts_expire_at']);
      });
    },
    async down(db) {
      await db.schema.alterTable('builds', (t) => {
        t.dropIndex(['status', 'updated_at']);
        t.dropIndex(['artifacts_expire_at']);
      });
      await db.schema.alterTable('pipelines', (t) => {
        t.dropColumn('trigger_id');
        t.dropColumn('triggered');
      });
      await db.schema.dropTableIfExists('triggers');
      await db.schema.dropTableIfExists('variables');
    },
  },
  '003_artifacts_file_key': {
    async up(db) {
      await db.schema.alterTable('builds', (t) => {
        // Names the archive's file, <DATA_DIR>/artifacts/<build id>/<key>.zip: each upload
        // gets a new random key, so removing one archive never touches another's file.
        t.string('artifacts_file_key', 64);
      });
      // Archives stored before keys existed sit at <build id>/artifacts.zip, which is the key
      // `artifacts` (never a generated key: those are hex tokens); they stay where they are.
      await db('builds').whereNotNull('artifacts_filename').update({ artifacts_file_key: 'artifacts' });
    },
    async down(db) {
      await db.schema.alterTable('builds', (t) => {
        t.dropColumn('artifacts_file_key');
      });
    },
  },
  // ---- issue 7: PostgreSQL and several server processes (004_*) ----
  '004_1_periodic_runs': {
    async up(db) {
      // Work that all server processes schedule but only one may do per interval (housekeeping):
      // the interval a task last ran in, claimed with a conditional UPDATE (src/store/periodicRuns.ts).
      await db.schema.createTable('periodic_runs', (t) => {
        t.string('name', 64).primary();
        t.bigInteger('last_slot').notNullable();
      });
    },
    async down(db) {
      await db.schema.dropTableIfExists('periodic_runs');
    },
  },
  // ---- issue 8: runner API v4, runners (005_*) ----
  '005_1_v4_runners': {
    async up(db) {
      await db.schema.alterTable('runners', (t) => {
        // Which runner API the runner registered through, and so the only one its token opens.
        // Every runner before this one came through /ci/api/v1.
        t.string('api_version', 8).notNullable().defaultTo('v1');
        // `registration_token` (POST /runners, either API) or `authenticated_user` (POST /user/runners, a glrt- token).
        t.string('registration_type', 32).notNullable().defaultTo('registration_token');
        t.string('access_level', 16).notNullable().defaultTo('not_protected');
        t.integer('maximum_timeout');
        t.text('maintenance_note');
      });
      // One row per host (system_id) that runs under a runner's token: GitLab's runner managers.
      await db.schema.createTable('runner_managers', (t) => {
        t.increments('id');
        t.integer('runner_id').notNullable().references('runners.id').onDelete('CASCADE');
        t.string('system_id', 64).notNullable();
        t.string('created_at', 32).notNullable();
        t.string('contacted_at', 32);
        t.unique(['runner_id', 'system_id']);
      });
    },
    async down(db) {
      await db.schema.dropTableIfExists('runner_managers');
      await db.schema.alterTable('runners', (t) => {
        for (const column of ['api_version', 'registration_type', 'access_level', 'maximum_timeout', 'maintenance_note']) t.dropColumn(column);
      });
    },
  },
  // ---- issue 8: runner API v4, artifacts (005_*) ----
  '005_2_job_artifacts': {
    async up(db) {
      // A build's artifacts, one per type (GitLab's ci_job_artifacts): the v1 archive is the
      // `archive` type; API v4 uploads `metadata`, `junit`, ... beside it.
      await db.schema.createTable('job_artifacts', (t) => {
        t.increments('id');
        t.integer('build_id').notNullable().references('builds.id').onDelete('CASCADE');
        t.string('file_type', 32).notNullable();
        t.string('file_format', 16).notNullable();
        t.text('filename').notNullable();
        t.bigInteger('size').notNullable();
        t.string('expire_at', 32);
        // Names the file, <DATA_DIR>/artifacts/<build id>/<key>.zip (see src/store/artifacts.ts).
        t.string('file_key', 64).notNullable();
        t.string('created_at', 32).notNullable();
        t.unique(['build_id', 'file_type']);
        t.index(['expire_at']);
      });
      // Every stored archive, as it is: same file, same name, size and expiry.
      await db.raw(
        `insert into job_artifacts (build_id, file_type, file_format, filename, size, expire_at, file_key, created_at)
         select id, 'archive', 'zip', artifacts_filename, artifacts_size, artifacts_expire_at, artifacts_file_key, updated_at
         from builds where artifacts_file_key is not null and artifacts_filename is not null`,
      );
      // The builds columns go with plain ALTER TABLE ... DROP COLUMN (SQLite 3.35+ and PostgreSQL),
      // which changes the table in place: knex's dropColumn would rebuild builds on SQLite, and the
      // rebuild's DROP TABLE would cascade to trace_chunks and job_artifacts.
      await db.schema.alterTable('builds', (t) => {
        t.dropIndex(['artifacts_expire_at']);
      });
      for (const column of ['artifacts_filename', 'artifacts_size', 'artifacts_expire_at', 'artifacts_file_key']) {
        await db.raw('alter table builds drop column ??', [column]);
      }
    },
    async down(db) {
      await db.schema.alterTable('builds', (t) => {
        t.text('artifacts_filename');
        t.bigInteger('artifacts_size');
        t.string('artifacts_expire_at', 32);
        t.string('artifacts_file_key', 64);
        t.index(['artifacts_expire_at']);
      });
      await db.raw(
        `update builds set (artifacts_filename, artifacts_size, artifacts_expire_at, artifacts_file_key) =
           (select filename, size, expire_at, file_key from job_artifacts where build_id = builds.id and file_type = 'archive')`,
      );
      await db.schema.dropTableIfExists('job_artifacts');
    },
  },
  // ---- issue 8: runner API v4, jobs (006_*) ----
  '006_1_v4_jobs': {
    async up(db) {
      // Plain added columns: SQLite adds them in place (no table rebuild), every row kept.
      await db.schema.alterTable('builds', (t) => {
        // The API the build was handed out through (null: not handed out, or before v4 existed).
        t.string('runner_api', 8);
        // Set when a v4 runner that cancels gracefully took it: a user cancel then goes through `canceling`.
        t.boolean('cancel_gracefully').notNullable().defaultTo(false);
        // What a v4 runner reported with `state: failed`.
        t.string('failure_reason', 64);
        t.integer('exit_code');
        // The first final update whose output did not match the stored log: 202s until this is old enough.
        t.string('final_update_pending_since', 32);
      });
    },
    async down(db) {
      await db.schema.alterTable('builds', (t) => {
        for (const column of ['runner_api', 'cancel_gracefully', 'failure_reason', 'exit_code', 'final_update_pending_since']) t.dropColumn(column);
      });
    },
  },
  // Issue 9 (tokens): runner and trigger tokens kept only as SHA-256 digests.
  '007_1_runner_trigger_token_digests': tokenDigestMigration,
  // Build and runners tokens sealed with CI_SECRET_KEY_FILE's key; generated instance tokens as digests.
  '007_2_sealed_build_and_runners_tokens': sealedTokenMigration,
  // Issue 9 (secrets at rest): project variables' values sealed with the same key.
  '008_1_sealed_variable_values': sealedVariableMigration,
  // And the pipelines' request and trigger variables.
  '008_2_sealed_pipeline_variables': sealedPipelineVariablesMigration,
  // Issue 7 (history): deleting a runner checks builds.runner_id's foreign key and sets it to
  // NULL in its builds; without an index led by runner_id, SQLite read the whole
  // (status, runner_id) index for it: 17 times slower with 300,000 finished builds stored
  // than with 1,000 (bench/history.ts).
  '009_1_builds_runner_id_index': {
    async up(db) {
      await db.schema.alterTable('builds', (t) => {
        t.index(['runner_id']);
      });
    },
    async down(db) {
      await db.schema.alterTable('builds', (t) => {
        t.dropIndex(['runner_id']);
      });
    },
  },
  // Issue 7 (claim speed): the shared queue's fair order read from indexes instead of a scan and
  // sort of every pending and running build on each claim (src/store/buildQueue.ts).
  '010_claim_indexes': {
    async up(db) {
      await db.schema.alterTable('builds', (t) => {
        // The projects with pending builds, one index step each; a project's pending builds in id order.
        t.index(['status', 'runner_id', 'project_id', 'id'], 'builds_queue_by_project_index');
        // A project's builds running on shared runners, counted from the index alone.
        t.index(['project_id', 'status', 'runner_id'], 'builds_project_load_index');
      });
    },
    async down(db) {
      await db.schema.alterTable('builds', (t) => {
        t.dropIndex([], 'builds_queue_by_project_index');
        t.dropIndex([], 'builds_project_load_index');
      });
    },
  },
};

export const migrationSource: Knex.MigrationSource<string> = {
  getMigrations: async () => Object.keys(migrations).sort(),
  getMigrationName: (name) => name,
  getMigration: async (name) => {
    const migration = migrations[name];
    if (!migration) throw new Error(`unknown migration ${name}`);
    return migration;
  },
};
