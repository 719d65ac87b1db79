/**
 * Migration 007 on a database written by the schema before it: every row is kept (no
 * table rebuild cascades through the foreign keys), the old plain tokens still work over
 * HTTP, and none of them is left in the database file or its WAL.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { knexConfigFor } from '../src/store/db.js';
import { migrationSource } from '../src/store/migrations.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { RunnerSimulator } from './support/runnerSimulator.js';
import { UserApi } from './support/userApi.js';
import { filesContaining } from './support/secretScan.js';

const NOW = '2026-01-01T00:00:00.000Z';
const RUNNER_TOKEN = 'a1'.repeat(15);
const OTHER_RUNNER_TOKEN = 'b2'.repeat(15);
const TRIGGER_TOKEN = 'c3'.repeat(15);
const RUNNERS_TOKEN = 'd4'.repeat(15);
const BUILD_TOKENS = ['e0'.repeat(15), 'e1'.repeat(15)];
const REGISTRATION_TOKEN = 'f5'.repeat(15);
const ADMIN_TOKEN = 'a6'.repeat(15);
const PLAIN_TOKENS = [RUNNER_TOKEN, OTHER_RUNNER_TOKEN, TRIGGER_TOKEN, RUNNERS_TOKEN, ...BUILD_TOKENS, REGISTRATION_TOKEN, ADMIN_TOKEN];

/** The migrations before issue 9's: what an existing installation's database has run. */
const before007: Knex.MigrationSource<string> = {
  ...migrationSource,
  getMigrations: async () => (await migrationSource.getMigrations([])).filter((name) => name < '007'),
};

/** Rows as the old schema held them: plain tokens, and rows that hang on runners and triggers by foreign key. */
async function seedOldDatabase(filename: string): Promise<void> {
  const db = knexFactory(knexConfigFor(`sqlite:${filename}`));
  try {
    await db.migrate.latest({ migrationSource: before007 });
    // Generated on a first start: kept in plain text before issue 9.
    await db('settings').insert([{ key: 'registration_token', value: REGISTRATION_TOKEN }, { key: 'admin_token', value: ADMIN_TOKEN }]);
    const [project] = await db('projects')
      .insert({ name: 'old', repo_url: 'https://git.example.com/old.git', runners_token: RUNNERS_TOKEN, ci_config: 'build:\n  script: ["true"]\n', created_at: NOW })
      .returning('id');
    const projectId = Number(project.id);
    const runnerIds: number[] = [];
    for (const token of [RUNNER_TOKEN, OTHER_RUNNER_TOKEN]) {
      const [row] = await db('runners').insert({ token, is_shared: false, description: `runner ${token.slice(0, 2)}`, created_at: NOW }).returning('id');
      runnerIds.push(Number(row.id));
      await db('runner_projects').insert({ runner_id: Number(row.id), project_id: projectId });
    }
    const [trigger] = await db('triggers').insert({ project_id: projectId, token: TRIGGER_TOKEN, description: 'nightly', created_at: NOW }).returning('id');
    const [pipeline] = await db('pipelines')
      .insert({
        project_id: projectId, ref: 'master', sha: 'a'.repeat(40), before_sha: '0'.repeat(40), status: 'running',
        trigger_id: Number(trigger.id), triggered: true, created_at: NOW, updated_at: NOW,
      })
      .returning('id');
    for (const [index, runnerId] of runnerIds.entries()) {
      const [build] = await db('builds')
        .insert({
          pipeline_id: Number(pipeline.id), project_id: projectId, name: `build${index}`, stage: 'test', stage_idx: 0,
          status: 'running', ref: 'master', commands: 'true', token: BUILD_TOKENS[index], runner_id: runnerId,
          created_at: NOW, updated_at: NOW, started_at: NOW,
        })
        .returning('id');
      await db('trace_chunks').insert({ build_id: Number(build.id), data: Buffer.from(`trace of build${index}\n`) });
    }
  } finally {
    // No checkpoint on the way out: the plain tokens stay in the WAL, as on a live server.
    await db.destroy();
  }
}

describe('migration 007: runner and trigger tokens become digests, build and runners tokens are sealed', () => {
  let dataDir: string;
  let coordinator: TestCoordinator;

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'token-migration-'));
    const filename = path.join(dataDir, 'coordinator.sqlite3');
    await seedOldDatabase(filename);
    assert.ok(
      filesContaining([filename, `${filename}-wal`], PLAIN_TOKENS).length > 0,
      'the old schema kept plain tokens on disk (else this test proves nothing)',
    );
    // The instance tokens are the ones the old database generated and kept.
    coordinator = await startTestCoordinator({ DATA_DIR: dataDir, DATABASE_URL: `sqlite:${filename}`, CI_REGISTRATION_TOKEN: '', CI_ADMIN_TOKEN: '' });
  });

  after(async () => {
    await coordinator?.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  test('keeps every row and every link between them', async () => {
    const db = coordinator.db;
    const count = async (table: string) => Number((await db(table).count({ n: '*' }))[0]!.n);
    assert.deepEqual(
      { runners: await count('runners'), runner_projects: await count('runner_projects'), triggers: await count('triggers'), builds: await count('builds'), trace_chunks: await count('trace_chunks') },
      { runners: 2, runner_projects: 2, triggers: 1, builds: 2, trace_chunks: 2 },
    );
    const builds = await db('builds').orderBy('id').select('runner_id');
    assert.ok(builds.every((build: { runner_id: unknown }) => build.runner_id !== null), 'no build lost its runner');
    const [pipeline] = await db('pipelines').select('trigger_id');
    assert.notEqual(pipeline.trigger_id, null, 'the pipeline keeps its trigger');
  });

  test('the old tokens still work: runners poll and delete themselves, the trigger triggers', async () => {
    const runner = new RunnerSimulator(coordinator.url, RUNNER_TOKEN);
    after(() => runner.close());
    assert.equal((await runner.sendJson('PUT', 'builds/-1', { token: RUNNER_TOKEN })).status, 404, 'known token: 404 for the build, not 403');
    assert.equal((await runner.sendJson('PUT', 'builds/-1', { token: 'f'.repeat(30) })).status, 403);
    const api = new UserApi(coordinator.url, ADMIN_TOKEN);
    const [project] = (await api.request<{ id: number }[]>('GET', '/api/v4/projects')).body;
    const triggered = await api.request('POST', `/api/v4/projects/${project!.id}/trigger/pipeline`, { token: TRIGGER_TOKEN, ref: 'master' });
    assert.equal(triggered.status, 201, triggered.text);
    const listed = await api.request<{ token: string }[]>('GET', `/api/v4/projects/${project!.id}/triggers`);
    assert.deepEqual(listed.body.map((trigger) => trigger.token), [TRIGGER_TOKEN.slice(0, 4)]);
    assert.equal((await runner.sendJson('DELETE', 'runners/delete', { token: OTHER_RUNNER_TOKEN })).status, 200);
  });

  test('the old build tokens, runners token and registration token still work', async () => {
    const runner = new RunnerSimulator(coordinator.url, RUNNER_TOKEN);
    after(() => runner.close());
    const builds: { id: number }[] = await coordinator.db('builds').orderBy('id').select('id');
    const patch = await runner.patchTrace(builds[0]!.id, BUILD_TOKENS[0]!, 0, 'more\n');
    assert.equal(patch.status, 202, 'a running build keeps its token through the upgrade');
    assert.equal((await runner.patchTrace(builds[0]!.id, BUILD_TOKENS[1]!, 0, 'x')).status, 403, "another build's token");
    const api = new UserApi(coordinator.url, ADMIN_TOKEN);
    const [project] = (await api.request<{ runners_token: string }[]>('GET', '/api/v4/projects')).body;
    assert.equal(project!.runners_token, RUNNERS_TOKEN, 'administrators still read the runners token');
    const specific = await runner.sendJson('POST', 'runners/register.json', { token: RUNNERS_TOKEN }, { accept: true });
    assert.equal(specific.status, 201);
    const shared = await runner.sendJson('POST', 'runners/register.json', { token: REGISTRATION_TOKEN }, { accept: true });
    assert.equal(shared.status, 201);
  });

  test('no plain token of any kind is left in the database file or its WAL', async () => {
    const filename = path.join(dataDir, 'coordinator.sqlite3');
    assert.deepEqual(filesContaining([filename, `${filename}-wal`, `${filename}-shm`], PLAIN_TOKENS), []);
  });
});
