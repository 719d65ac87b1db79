// Issue 8's migrations (005_*) on a database that already has data: every row stays, and gets
// the values a row of before means (a runner of before registered through /ci/api/v1).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import knexFactory, { type Knex } from 'knex';
import { migrationSource } from '../src/store/migrations.js';
import { tokenDigest } from '../src/store/tokenDigests.js';
import { bindTokenVault, TokenVault } from '../src/store/tokenVault.js';
import { randomBytes } from 'node:crypto';

const NOW = '2026-12-01T10:00:00.000Z';

/** The migrations before issue 8's, so a database can be made as it was before them. */
const before005: Knex.MigrationSource<string> = {
  ...migrationSource,
  getMigrations: async () => (await migrationSource.getMigrations([])).filter((name) => name < '005'),
};

function openSqlite(filename: string): Knex {
  return knexFactory({
    client: 'sqlite3',
    connection: { filename },
    useNullAsDefault: true,
    // As the server opens it: foreign keys on, so a table rebuild would cascade for real.
    pool: { min: 1, max: 1, afterCreate: (conn: { exec(sql: string, cb: (err: Error | null) => void): void }, done: (err: Error | null, conn: unknown) => void) => conn.exec('PRAGMA foreign_keys = ON;', (err) => done(err, conn)) },
  });
}

describe('migrations 005_* keep existing data', () => {
  let dir: string;
  let db: Knex;
  before(async () => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-migrations-'));
    db = openSqlite(path.join(dir, 'db.sqlite3'));
    bindTokenVault(db, new TokenVault(randomBytes(32)));
    await db.migrate.latest({ migrationSource: before005 });
    await seedPre005(db);
    await db.migrate.latest({ migrationSource });
  });
  after(async () => {
    await db.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  test('runners of before are v1 runners registered with a token, and keep their links and builds', async () => {
    const runners = await db('runners').orderBy('id');
    assert.equal(runners.length, 2);
    for (const runner of runners) {
      assert.equal(runner.api_version, 'v1');
      assert.equal(runner.registration_type, 'registration_token');
      assert.equal(runner.access_level, 'not_protected');
      assert.equal(runner.maximum_timeout, null);
    }
    // Kept as digests since migration 007 (issue 9).
    assert.deepEqual(runners.map((runner) => runner.token_digest), ['shared-token', 'specific-token'].map(tokenDigest));
    assert.equal((await db('runner_projects')).length, 1);
    const builds = await db('builds').orderBy('id');
    assert.deepEqual(builds.map((build) => [build.name, Number(build.runner_id)]), [['compile', 1], ['rspec', 2]]);
    assert.equal((await db('trace_chunks')).length, 2);
    assert.deepEqual(await db('runner_managers'), []);
  });

  test("each stored v1 archive became the build's `archive` artifact, same file and fields; the builds columns are gone", async () => {
    const artifacts = await db('job_artifacts').orderBy('id');
    assert.equal(artifacts.length, 1);
    const [archive] = artifacts;
    assert.deepEqual(
      { ...archive, id: undefined, size: Number(archive.size), build_id: Number(archive.build_id) },
      { id: undefined, build_id: 1, file_type: 'archive', file_format: 'zip', filename: 'artifacts.zip', size: 22, expire_at: '2026-12-08T10:00:00.000Z', file_key: 'abc123', created_at: NOW },
    );
    const columns = Object.keys(await db('builds').columnInfo());
    assert.deepEqual(columns.filter((column) => column.startsWith('artifacts_')), []);
    // Nothing cascaded: builds and their traces are all there.
    assert.equal((await db('builds')).length, 2);
    assert.equal((await db('trace_chunks')).length, 2);
  });
});

/** A project, two runners (one specific), a pipeline with two builds on them, traces and one archive. */
async function seedPre005(db: Knex): Promise<void> {
  await db('projects').insert({ id: 1, name: 'diaspora', repo_url: 'https://git.example.com/diaspora.git', runners_token: 'project-runners-token', created_at: NOW });
  const runner = (id: number, token: string, isShared: boolean) => ({ id, token, is_shared: isShared, tag_list: '[]', created_at: NOW });
  await db('runners').insert([runner(1, 'shared-token', true), runner(2, 'specific-token', false)]);
  await db('runner_projects').insert({ runner_id: 2, project_id: 1 });
  await db('pipelines').insert({ id: 1, project_id: 1, ref: 'master', sha: 'a'.repeat(40), before_sha: '0'.repeat(40), status: 'running', created_at: NOW, updated_at: NOW });
  const build = (id: number, name: string, runnerId: number, artifacts: boolean) => ({
    id,
    pipeline_id: 1,
    project_id: 1,
    name,
    stage: 'test',
    stage_idx: id,
    status: 'success',
    ref: 'master',
    commands: 'make',
    token: `build-token-${id}`,
    runner_id: runnerId,
    trace_length: 5,
    created_at: NOW,
    updated_at: NOW,
    ...(artifacts ? { artifacts_filename: 'artifacts.zip', artifacts_size: 22, artifacts_expire_at: '2026-12-08T10:00:00.000Z', artifacts_file_key: 'abc123' } : {}),
  });
  await db('builds').insert([build(1, 'compile', 1, true), build(2, 'rspec', 2, false)]);
  await db('trace_chunks').insert([
    { build_id: 1, data: Buffer.from('hello') },
    { build_id: 2, data: Buffer.from('world') },
  ]);
}
