// Deleting a project: gone at once for runners and the API, its data removed in the background,
// and a deletion that a stopped process left half done finished by the next start. Black-box
// through real servers sharing one SQLite file; the database is read to see what is stored.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { startCoordinator } from '../src/runtime.js';
import { findRunnerByToken } from '../src/store/runners.js';
import type { TestCoordinator } from './support/coordinator.js';
import { BuildStarter, type PreparedPipeline, startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import type { BuildPayload } from './support/runnerSimulator.js';
import { UserApi } from './support/userApi.js';

const CONFIG = `
stages: [build, test]
compile:
  stage: build
  script: make
  artifacts:
    paths: [out/]
rspec:
  stage: test
  script: rspec
lint:
  stage: test
  script: make lint
`;

/** A project whose compile ran (trace and artifacts stored), with rspec and lint pending. */
interface Seeded extends PreparedPipeline {
  compile: BuildPayload;
}

describe('deleting a project', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let builds: BuildStarter;

  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld();
    ({ coordinator, api, builds } = world);
  });
  after(() => world.stop());

  const seed = async (): Promise<Seeded> => {
    const prepared = await builds.prepare(CONFIG);
    const projectPath = `/api/v4/projects/${prepared.project.id}`;
    assert.equal((await api.request('POST', `${projectPath}/variables`, { key: 'SECRET', value: 's3cr3t' })).status, 201);
    assert.equal((await api.request('POST', `${projectPath}/triggers`, { description: 'deploys' })).status, 201);
    const compile = await prepared.runner.requestBuild();
    assert.ok(compile);
    const result = await prepared.runner.runBuild(compile, { output: ['$ make\n'], artifacts: { files: { 'out/app': 'binary' } } });
    assert.equal(result.state, 'success');
    assert.ok(fs.existsSync(archiveDir(compile.id)));
    return { ...prepared, compile };
  };
  const archiveDir = (buildId: number) => path.join(coordinator.dataDir, 'artifacts', String(buildId));
  const rowsOf = async (projectId: number) => {
    const db = coordinator.db;
    const buildIds = (await db('builds').where({ project_id: projectId }).select('id')).map((row: { id: number }) => row.id);
    const count = async (table: string, where: Record<string, unknown>) => (await db(table).where(where)).length;
    return {
      projects: await count('projects', { id: projectId }),
      pipelines: await count('pipelines', { project_id: projectId }),
      builds: buildIds.length,
      traceChunks: (await db('trace_chunks').whereIn('build_id', buildIds)).length,
      variables: await count('variables', { project_id: projectId }),
      triggers: await count('triggers', { project_id: projectId }),
      runnerProjects: await count('runner_projects', { project_id: projectId }),
    };
  };
  const nothingLeft = { projects: 0, pipelines: 0, builds: 0, traceChunks: 0, variables: 0, triggers: 0, runnerProjects: 0 };
  /** Polls (bounded by attempts, not by a clock) until the project row is gone. */
  const removalOf = async (projectId: number) => {
    for (let attempt = 0; attempt < 2000; attempt++) {
      if ((await coordinator.db('projects').where({ id: projectId })).length === 0) return;
      await sleep(5);
    }
    assert.fail(`project ${projectId} was never removed`);
  };
  const assertUntouched = async (other: Seeded) => {
    const rows = await rowsOf(other.project.id);
    assert.deepEqual(rows, { projects: 1, pipelines: 1, builds: 3, traceChunks: 1, variables: 1, triggers: 1, runnerProjects: 1 });
    assert.ok(fs.existsSync(archiveDir(other.compile.id)));
    assert.equal((await api.request('GET', `/api/v4/projects/${other.project.id}`)).status, 200);
  };

  test('answers 202, is gone at once for runners and the API, and its rows and files go in the background', async () => {
    const doomed = await seed();
    const other = await seed();
    const reply = await api.request('DELETE', `/api/v4/projects/${doomed.project.id}`);
    assert.equal(reply.status, 202);
    assert.equal(reply.headers.get('content-type'), 'application/json');
    assert.deepEqual(reply.body, { message: '202 Accepted' });

    assert.equal((await api.request('GET', `/api/v4/projects/${doomed.project.id}`)).status, 404);
    assert.equal((await api.request('GET', `/api/v4/projects/${doomed.project.id}/pipelines`)).status, 404);
    assert.equal((await api.request('DELETE', `/api/v4/projects/${doomed.project.id}`)).status, 404);
    assert.equal(await doomed.runner.requestBuild(), null, 'its pending rspec and lint are not handed out');

    await removalOf(doomed.project.id);
    assert.deepEqual(await rowsOf(doomed.project.id), nothingLeft);
    assert.equal(fs.existsSync(archiveDir(doomed.compile.id)), false);
    assert.ok(await findRunnerByToken(coordinator.db, doomed.runner.token), 'the runner itself stays');

    await assertUntouched(other);
    const next = await other.runner.requestBuild();
    assert.equal(next?.name, 'rspec', 'the other project\'s builds still run');
    assert.equal((await other.runner.runBuild(next!, { output: ['ok\n'] })).state, 'success');
  });

  test('unknown projects answer 404', async () => {
    const reply = await api.request('DELETE', '/api/v4/projects/999999');
    assert.equal(reply.status, 404);
    assert.deepEqual(reply.body, { message: '404 Not Found' });
  });

  test('a deletion a stopped process left unfinished: 403 on build endpoints, then the next starts finish it together', async () => {
    const doomed = await seed();
    const other = await seed();
    const rspec = await doomed.runner.requestBuild();
    assert.equal(rspec?.name, 'rspec');
    // The state a process leaves when it dies right after flagging the project and removing
    // the first archive: what DELETE does first, without the background removal that follows.
    await coordinator.db('projects').where({ id: doomed.project.id }).update({ pending_delete: true });
    fs.rmSync(archiveDir(doomed.compile.id), { recursive: true });

    const deleted = JSON.stringify({ message: '403 Forbidden  - Project has been deleted!' });
    const patch = await doomed.runner.patchTrace(rspec!.id, rspec!.token, 0, '$ rspec\n');
    assert.equal(patch.status, 403);
    assert.equal(patch.body.toString(), deleted);
    const put = await doomed.runner.putBuild(rspec!.id, { state: 'success', trace: '$ rspec\n' });
    assert.equal(put.status, 403);
    assert.equal(put.body.toString(), deleted);
    const download = await doomed.runner.downloadArtifacts(doomed.compile.id, doomed.compile.token);
    assert.equal(download.status, 403);
    assert.equal(download.body.toString(), deleted);
    assert.equal(await doomed.runner.requestBuild(), null, 'lint is not handed out');
    assert.equal((await api.request('GET', `/api/v4/projects/${doomed.project.id}/jobs`)).status, 404);

    // Two servers start on the same data at once; both resume the deletion.
    const restarted = await Promise.all([0, 1].map(() => startCoordinator(coordinator.config, { log: () => {} })));
    try {
      await removalOf(doomed.project.id);
    } finally {
      await Promise.all(restarted.map((server) => server.close()));
    }
    assert.deepEqual(await rowsOf(doomed.project.id), nothingLeft);
    await assertUntouched(other);
  });
});
