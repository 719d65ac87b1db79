// Issue 9, secrets at rest: project (secret) variables' values are sealed with the server
// secret (CI_SECRET_KEY_FILE), as build tokens are. A value set through the API, and one an
// older database held in plain text (migration 008), reaches builds and the API as before,
// is masked in traces, and is found neither in the row nor, on SQLite, in the database file
// or its WAL.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { knexConfigFor } from '../src/store/db.js';
import { migrationSource } from '../src/store/migrations.js';
import { tokenDigest } from '../src/store/tokenDigests.js';
import { bindTokenVault, TokenVault } from '../src/store/tokenVault.js';
import { loadOrCreateSecretKey } from '../src/domain/secretKey.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { createTestDatabase, isPostgresRun, type TestDatabase } from './support/database.js';
import { RunnerSimulator, type BuildPayload } from './support/runnerSimulator.js';
import { UserApi } from './support/userApi.js';
import { filesContaining } from './support/secretScan.js';

const NOW = '2026-01-01T00:00:00.000Z';
const CI_CONFIG = 'deploy:\n  script: ./deploy\n';
const RUNNERS_TOKEN = 'd4'.repeat(15);
const OLD_VALUES = { DEPLOY_PASSWORD: 'old-plain-password-7f3a9c', API_KEY: 'old-plain-api-key-41be02' };
const OLD_TRIGGER_VALUE = 'old-plain-trigger-value-90c7d2';
const OLD_BUILD_TOKEN = 'e0'.repeat(15);
const OLD_SECRETS = [...Object.values(OLD_VALUES), OLD_TRIGGER_VALUE];

const before008: Knex.MigrationSource<string> = {
  ...migrationSource,
  getMigrations: async () => (await migrationSource.getMigrations([])).filter((name) => name < '008'),
};

/** The database files of a SQLite coordinator (empty on PostgreSQL, whose files are the cluster's). */
function databaseFiles(coordinator: TestCoordinator): string[] {
  const url = coordinator.config.databaseUrl;
  if (!url.startsWith('sqlite:')) return [];
  const file = url.slice('sqlite:'.length);
  return [file, `${file}-wal`, `${file}-shm`];
}

/** Every column of every `variables` and `pipelines` row, as text: what a dump of the tables shows. */
async function storedVariableText(db: Knex): Promise<string> {
  const rows: Record<string, unknown>[][] = [await db('variables').select('*'), await db('pipelines').select('*')];
  return JSON.stringify(rows);
}

async function buildWithVariables(coordinator: TestCoordinator, runnersToken: string, projectId: number): Promise<{ build: BuildPayload; runner: RunnerSimulator }> {
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  await api.createPipeline(projectId, { ci_config: CI_CONFIG });
  const runner = await RunnerSimulator.register(coordinator.url, runnersToken, { runUntagged: true });
  const build = await runner.requestBuild();
  assert.ok(build, 'the runner got the build');
  return { build, runner };
}

function valueOf(build: BuildPayload, key: string): string | undefined {
  return build.variables.find((variable) => variable.key === key)?.value;
}

describe('secret variable values sealed at rest', () => {
  test('a value set through the API reaches the build, the API and the mask, and no byte on disk shows it', async () => {
    const coordinator = await startTestCoordinator();
    try {
      const api = new UserApi(coordinator.url, coordinator.adminToken);
      const project = await api.createProject({ ci_config: CI_CONFIG });
      const value = 'fresh-secret-value-9d2e71c4';
      const changed = 'changed-secret-value-5a0b33';
      assert.equal((await api.request('POST', `/api/v4/projects/${project.id}/variables`, { key: 'TOKEN', value: 'first-value-to-replace' })).status, 201);
      const updated = await api.request<{ value: string }>('PUT', `/api/v4/projects/${project.id}/variables/TOKEN`, { value });
      assert.equal(updated.status, 200, updated.text);
      assert.equal(updated.body.value, value);
      assert.equal((await api.request('POST', `/api/v4/projects/${project.id}/variables`, { key: 'OTHER', value: changed })).status, 201);
      const shown = await api.request<{ key: string; value: string }[]>('GET', `/api/v4/projects/${project.id}/variables`);
      assert.deepEqual(shown.body, [{ key: 'OTHER', value: changed }, { key: 'TOKEN', value }]);
      assert.equal((await api.request<{ value: string }>('GET', `/api/v4/projects/${project.id}/variables/TOKEN`)).body.value, value);

      const { build, runner } = await buildWithVariables(coordinator, project.runners_token, project.id);
      const triggerValue = 'trigger-secret-value-3e8d10';
      try {
        assert.equal(valueOf(build, 'TOKEN'), value, 'the build receives the plain value');
        assert.equal(valueOf(build, 'OTHER'), changed);
        assert.equal((await runner.patchTrace(build.id, build.token, 0, `echo ${value}\n`)).status, 202);
        const trace = await api.request('GET', `/api/v4/projects/${project.id}/jobs/${build.id}/trace`);
        assert.equal(trace.text, `echo ${'x'.repeat(value.length)}\n`, 'still masked in the trace');
        // A trigger's variables, kept with their pipeline.
        const trigger = await api.request<{ token: string }>('POST', `/api/v4/projects/${project.id}/triggers`, {});
        const triggered = await api.request('POST', `/api/v4/projects/${project.id}/trigger/pipeline`, { token: trigger.body.token, ref: 'master', variables: { TRIGGER_SECRET: triggerValue } });
        assert.equal(triggered.status, 201, triggered.text);
        const second = await runner.requestBuild();
        assert.ok(second);
        assert.equal(valueOf(second, 'TRIGGER_SECRET'), triggerValue, 'the triggered build receives the trigger variable');
        assert.equal((await runner.patchTrace(second.id, second.token, 0, `${triggerValue}\n`)).status, 202);
        assert.equal((await api.request('GET', `/api/v4/projects/${project.id}/jobs/${second.id}/trace`)).text, `${'x'.repeat(triggerValue.length)}\n`);
      } finally {
        runner.close();
      }
      const secrets = new Map([['first value', 'first-value-to-replace'], ['value', value], ['other value', changed], ['trigger variable', triggerValue]]);
      const dump = await storedVariableText(coordinator.db);
      for (const [label, secret] of secrets) assert.ok(!dump.includes(secret), `the ${label} is not in the variables or pipelines rows`);
      assert.deepEqual(filesContaining([coordinator.dataDir, ...databaseFiles(coordinator)], secrets), []);
    } finally {
      await coordinator.stop();
    }
  });
});

describe('migration 008: plain variable values of an older database are sealed', () => {
  let dataDir: string;
  let database: TestDatabase;
  let coordinator: TestCoordinator;
  let projectId: number;
  let seededBuildId: number;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'variable-migration-'));
    database = await createTestDatabase(dataDir);
    // The key the coordinator will find in its DATA_DIR: 007's sealed tokens are under it.
    const vault = new TokenVault(loadOrCreateSecretKey(path.join(dataDir, 'secret.key')));
    const db = knexFactory(knexConfigFor(database.url));
    bindTokenVault(db, vault);
    try {
      await db.migrate.latest({ migrationSource: before008 });
      const [project] = await db('projects')
        .insert({
          name: 'old', repo_url: 'https://git.example.com/old.git', ci_config: CI_CONFIG, created_at: NOW,
          runners_token_digest: tokenDigest(RUNNERS_TOKEN), runners_token_sealed: vault.seal(RUNNERS_TOKEN),
        })
        .returning('id');
      projectId = Number(project.id);
      for (const [key, value] of Object.entries(OLD_VALUES)) await db('variables').insert({ project_id: projectId, key, value });
      // A triggered pipeline with its variables, and its pending build (whose rows hang on the pipeline's).
      const [pipeline] = await db('pipelines')
        .insert({
          project_id: projectId, ref: 'master', sha: 'a'.repeat(40), before_sha: '0'.repeat(40), status: 'pending', triggered: true,
          variables: JSON.stringify([{ key: 'OLD_TRIGGER_VAR', value: OLD_TRIGGER_VALUE }]), created_at: NOW, updated_at: NOW,
        })
        .returning('id');
      const [build] = await db('builds')
        .insert({
          pipeline_id: Number(pipeline.id), project_id: projectId, name: 'deploy', stage: 'test', stage_idx: 0, status: 'pending',
          ref: 'master', commands: './deploy', token_digest: tokenDigest(OLD_BUILD_TOKEN), token_sealed: vault.seal(OLD_BUILD_TOKEN),
          created_at: NOW, updated_at: NOW, queued_at: NOW,
        })
        .returning('id');
      seededBuildId = Number(build.id);
      const dump = await storedVariableText(db);
      assert.ok(OLD_SECRETS.every((secret) => dump.includes(secret)), 'the old schema kept plain values (else this test proves nothing)');
    } finally {
      // No checkpoint on the way out: on SQLite the plain values stay in the WAL, as on a live server.
      await db.destroy();
    }
    if (!isPostgresRun()) {
      const file = database.url.slice('sqlite:'.length);
      assert.ok(filesContaining([file, `${file}-wal`], OLD_SECRETS).length > 0, 'plain values on disk before the upgrade');
    }
    coordinator = await startTestCoordinator({ DATA_DIR: dataDir, DATABASE_URL: database.url });
  });

  after(async () => {
    await coordinator?.stop();
    await database?.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('the API shows the old values, and the old build receives them, the trigger variable too, masked in its trace', async () => {
    const api = new UserApi(coordinator.url, coordinator.adminToken);
    const shown = await api.request<{ key: string; value: string }[]>('GET', `/api/v4/projects/${projectId}/variables`);
    assert.deepEqual(shown.body, [{ key: 'API_KEY', value: OLD_VALUES.API_KEY }, { key: 'DEPLOY_PASSWORD', value: OLD_VALUES.DEPLOY_PASSWORD }]);
    const runner = await RunnerSimulator.register(coordinator.url, RUNNERS_TOKEN, { runUntagged: true });
    try {
      const build = await runner.requestBuild();
      assert.ok(build);
      assert.equal(build.id, seededBuildId, 'the build of the old pipeline is still there');
      assert.equal(build.token, OLD_BUILD_TOKEN);
      assert.equal(valueOf(build, 'DEPLOY_PASSWORD'), OLD_VALUES.DEPLOY_PASSWORD);
      assert.equal(valueOf(build, 'API_KEY'), OLD_VALUES.API_KEY);
      assert.equal(valueOf(build, 'OLD_TRIGGER_VAR'), OLD_TRIGGER_VALUE);
      const half = 10;
      assert.equal((await runner.patchTrace(build.id, build.token, 0, `key ${OLD_VALUES.API_KEY.slice(0, half)}`)).status, 202);
      assert.equal((await runner.patchTrace(build.id, build.token, 4 + half, `${OLD_VALUES.API_KEY.slice(half)} end\n`)).status, 202);
      assert.equal((await runner.patchTrace(build.id, build.token, `key ${OLD_VALUES.API_KEY} end\n`.length, `${OLD_TRIGGER_VALUE}\n`)).status, 202);
      const trace = await api.request('GET', `/api/v4/projects/${projectId}/jobs/${build.id}/trace`);
      assert.equal(trace.text, `key ${'x'.repeat(OLD_VALUES.API_KEY.length)} end\n${'x'.repeat(OLD_TRIGGER_VALUE.length)}\n`);
    } finally {
      runner.close();
    }
  });

  test('no old value is left in the rows, nor in the SQLite file or its WAL', async () => {
    const dump = await storedVariableText(coordinator.db);
    for (const value of OLD_SECRETS) assert.ok(!dump.includes(value), 'sealed in the row');
    assert.deepEqual(filesContaining(databaseFiles(coordinator), OLD_SECRETS), []);
  });
});
