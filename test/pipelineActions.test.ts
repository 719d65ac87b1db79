// Canceling and retrying whole pipelines, black-box through a real server with a simulated runner.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { components } from '../src/generated/api.js';
import { BuildStarter, startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import type { RunnerSimulator } from './support/runnerSimulator.js';
import { UserApi } from './support/userApi.js';

type Pipeline = components['schemas']['Pipeline'];

const CONFIG = `
stages: [build, test]
compile:
  stage: build
  script: make
assets:
  stage: build
  script: make assets
rspec:
  stage: test
  script: rspec
`;

describe('user API: pipeline actions', () => {
  let api: UserApi;
  let builds: BuildStarter;

  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld();
    ({ api, builds } = world);
  });
  after(() => world.stop());

  const act = (projectId: number, pipelineId: number, action: 'cancel' | 'retry') =>
    api.request<Pipeline & { message: string }>('POST', `/api/v4/projects/${projectId}/pipelines/${pipelineId}/${action}`);
  const statuses = async (projectId: number, pipelineId: number) =>
    (await api.listJobs(projectId, pipelineId)).map((job) => [job.name, job.status]);
  /** Takes the next build and runs it to `result`. */
  const runNext = async (runner: RunnerSimulator, result: 'success' | 'failed') => {
    const build = await runner.requestBuild();
    assert.ok(build, 'the runner got a build');
    assert.equal((await runner.runBuild(build, { output: ['$ make\n'], result })).state, result);
    return build;
  };

  describe('cancel', () => {
    test('cancels every created, pending and running build; the running one\'s runner gets 404 on its PUT', async () => {
      const { project, pipeline, runner } = await builds.prepare(CONFIG);
      const running = await runner.requestBuild();
      assert.ok(running);
      const reply = await act(project.id, pipeline.id, 'cancel');
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.body.id, pipeline.id);
      assert.equal(reply.body.status, 'canceled');
      assert.deepEqual(await statuses(project.id, pipeline.id), [
        ['compile', 'canceled'],
        ['assets', 'canceled'],
        ['rspec', 'canceled'],
      ]);
      const patch = await runner.patchTrace(running.id, running.token, 0, '$ make\n');
      assert.equal(patch.buildStatus, 'canceled');
      assert.equal((await runner.putBuild(running.id, { state: 'success', trace: '$ make\n' })).status, 404);
      assert.equal(await runner.requestBuild(), null);
    });

    test('a finished pipeline has nothing to cancel: 200 and unchanged, as GitLab answered', async () => {
      const { project, pipeline, runner } = await builds.prepare();
      await runNext(runner, 'success');
      const reply = await act(project.id, pipeline.id, 'cancel');
      assert.equal(reply.status, 200);
      assert.equal(reply.body.status, 'success');
      assert.deepEqual(await statuses(project.id, pipeline.id), [['rspec', 'success']]);
    });
  });

  describe('retry', () => {
    test('retries the failed and canceled builds as new builds and runs the pipeline on to success', async () => {
      const { project, pipeline, runner } = await builds.prepare(CONFIG);
      const compile = await runNext(runner, 'failed');
      const [assets] = (await api.listJobs(project.id, pipeline.id)).filter((job) => job.name === 'assets');
      assert.equal((await api.request('POST', `/api/v4/projects/${project.id}/jobs/${assets!.id}/cancel`)).status, 201);
      assert.deepEqual(await statuses(project.id, pipeline.id), [['compile', 'failed'], ['assets', 'canceled'], ['rspec', 'skipped']]);
      assert.equal((await api.getPipeline(project.id, pipeline.id)).status, 'failed');

      const reply = await act(project.id, pipeline.id, 'retry');
      assert.equal(reply.status, 201, reply.text);
      assert.equal(reply.body.status, 'pending');
      const jobs = await api.listJobs(project.id, pipeline.id);
      assert.deepEqual(jobs.map((job) => [job.name, job.status]), [
        ['compile', 'failed'],
        ['assets', 'canceled'],
        ['compile', 'pending'],
        ['assets', 'pending'],
        ['rspec', 'created'],
      ]);
      assert.ok(jobs[2]!.id > compile.id);

      await runNext(runner, 'success');
      await runNext(runner, 'success');
      const rspec = await runNext(runner, 'success');
      assert.equal(rspec.name, 'rspec');
      assert.deepEqual(rspec.depends_on_builds.map((d) => d.id), [jobs[2]!.id, jobs[3]!.id]);
      assert.equal((await api.getPipeline(project.id, pipeline.id)).status, 'success');
    });

    test('only the newest build of each name is retried', async () => {
      const { project, pipeline, runner } = await builds.prepare();
      const first = await runNext(runner, 'failed');
      const retried = await api.request<{ id: number }>('POST', `/api/v4/projects/${project.id}/jobs/${first.id}/retry`);
      assert.equal(retried.status, 201);
      await runNext(runner, 'failed');
      assert.equal((await act(project.id, pipeline.id, 'retry')).status, 201);
      const jobs = await api.listJobs(project.id, pipeline.id);
      assert.deepEqual(jobs.map((job) => job.status), ['failed', 'failed', 'pending']);
    });

    test('nothing to retry: 400 naming the pipeline\'s status', async () => {
      const { project, pipeline, runner } = await builds.prepare(CONFIG);
      const running = await act(project.id, pipeline.id, 'retry');
      assert.equal(running.status, 400);
      assert.equal(running.body.message, `400 Bad request - Cannot retry pipeline ${pipeline.id}: it is pending, with no failed or canceled job`);
      await runNext(runner, 'success');
      await runNext(runner, 'success');
      await runNext(runner, 'success');
      const succeeded = await act(project.id, pipeline.id, 'retry');
      assert.equal(succeeded.status, 400);
      assert.equal(succeeded.body.message, `400 Bad request - Cannot retry pipeline ${pipeline.id}: it is success, with no failed or canceled job`);
    });
  });

  test('unknown pipelines, pipelines of another project and unknown projects answer 404', async () => {
    const { project, pipeline } = await builds.prepare();
    const other = await api.createProject();
    for (const action of ['cancel', 'retry'] as const) {
      for (const [projectId, pipelineId] of [[project.id, 999_999], [other.id, pipeline.id], [999_999, pipeline.id]] as const) {
        const reply = await act(projectId, pipelineId, action);
        assert.equal(reply.status, 404, `${action} ${projectId}/${pipelineId}`);
        assert.deepEqual(reply.body, { message: '404 Not Found' });
      }
    }
    assert.equal((await api.getPipeline(project.id, pipeline.id)).status, 'pending', 'untouched');
  });
});
