// cancel, retry, play and erase of one job, black-box through a real server: pipelines are seeded
// through the user API and their builds run on a protocol-faithful simulated runner.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { components } from '../src/generated/api.js';
import type { TestCoordinator } from './support/coordinator.js';
import { BuildStarter, startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import type { RunnerSimulator } from './support/runnerSimulator.js';
import { UserApi } from './support/userApi.js';

type Job = components['schemas']['Job'];
type Action = 'cancel' | 'retry' | 'play' | 'erase';

const TWO_STAGES = `
stages: [build, test]
compile:
  stage: build
  script: make
  artifacts:
    paths: [out/]
rspec:
  stage: test
  script: rspec
`;

const WITH_MANUAL_DEPLOY = `
stages: [build, deploy]
compile:
  stage: build
  script: make
production:
  stage: deploy
  script: deploy
  when: manual
`;

describe('user API: job actions', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let builds: BuildStarter;

  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld();
    ({ coordinator, api, builds } = world);
  });
  after(() => world.stop());

  const act = (projectId: number, jobId: number, action: Action) =>
    api.request<Job & { message: string }>('POST', `/api/v4/projects/${projectId}/jobs/${jobId}/${action}`);
  const getJob = async (projectId: number, jobId: number): Promise<Job> =>
    (await api.request<Job>('GET', `/api/v4/projects/${projectId}/jobs/${jobId}`)).body;
  const jobsByName = async (projectId: number, pipelineId: number) => {
    const jobs = await api.listJobs(projectId, pipelineId);
    const byName = new Map<string, Job[]>();
    for (const job of jobs) byName.set(job.name, [...(byName.get(job.name) ?? []), job]);
    return byName;
  };
  /** Takes the next build and runs it to `result` on the runner. */
  const runNext = async (runner: RunnerSimulator, result: 'success' | 'failed' = 'success', files?: Record<string, string>) => {
    const build = await runner.requestBuild();
    assert.ok(build, 'the runner got a build');
    const run = await runner.runBuild(build, { output: [`$ ${build.commands}\n`], result, ...(files ? { artifacts: { files } } : {}) });
    assert.equal(run.state, result);
    return build;
  };

  describe('cancel', () => {
    test('a running build stops on its runner: the next PATCH says Build-Status: canceled, the final PUT gets 404', async () => {
      const { build, runner, projectId } = await builds.start();
      let cancel: Awaited<ReturnType<typeof act>> | undefined;
      const result = await runner.runBuild(build, {
        output: ['$ rspec\n', 'still running\n', 'never sent\n'],
        beforeTick: async (tick) => {
          if (tick === 1) cancel = await act(projectId, build.id, 'cancel');
        },
      });
      assert.equal(cancel?.status, 201, cancel?.text);
      assert.equal(cancel?.body.status, 'canceled');
      assert.ok(cancel?.body.finished_at);
      assert.equal(result.state, 'canceled');
      assert.deepEqual(result.patches.map((p) => [p.status, p.buildStatus]), [[202, 'running'], [202, 'canceled']]);
      assert.deepEqual(result.finalUpdate, { outcome: 'aborted', attempts: 1, status: 404 });
      const job = await getJob(projectId, build.id);
      assert.equal(job.status, 'canceled');
      const trace = await api.request('GET', `/api/v4/projects/${projectId}/jobs/${build.id}/trace`);
      assert.equal(trace.text, '$ rspec\nstill running\n', 'what was sent before the cancel is kept');
    });

    test('a pending build is canceled and no runner gets it; the pipeline is canceled', async () => {
      const { project, pipeline, runner } = await builds.prepare();
      const [job] = await api.listJobs(project.id, pipeline.id);
      const reply = await act(project.id, job!.id, 'cancel');
      assert.equal(reply.status, 201);
      assert.equal(reply.body.status, 'canceled');
      assert.equal(await runner.requestBuild(), null);
      assert.equal((await api.getPipeline(project.id, pipeline.id)).status, 'canceled');
    });

    test('a created build of a later stage is canceled', async () => {
      const { project, pipeline } = await builds.prepare(TWO_STAGES);
      const rspec = (await jobsByName(project.id, pipeline.id)).get('rspec')![0]!;
      assert.equal(rspec.status, 'created');
      const reply = await act(project.id, rspec.id, 'cancel');
      assert.equal(reply.status, 201);
      assert.equal(reply.body.status, 'canceled');
    });

    test('a finished build cannot be canceled: 400 naming its status', async () => {
      const { project, runner } = await builds.prepare();
      const build = await runNext(runner, 'success');
      const reply = await act(project.id, build.id, 'cancel');
      assert.equal(reply.status, 400);
      assert.deepEqual(reply.body, { message: `400 Bad request - Cannot cancel job ${build.id}: it is success` });
      const canceled = await builds.prepare();
      const [job] = await api.listJobs(canceled.project.id, canceled.pipeline.id);
      await act(canceled.project.id, job!.id, 'cancel');
      const again = await act(canceled.project.id, job!.id, 'cancel');
      assert.equal(again.status, 400);
      assert.equal(again.body.message, `400 Bad request - Cannot cancel job ${job!.id}: it is canceled`);
    });
  });

  describe('retry', () => {
    test('a failed build gets a new build with the same definition, which a runner takes; the old one stays', async () => {
      const config = 'rspec:\n  script:\n    - bundle\n    - rspec\n  allow_failure: true\n  variables:\n    SPEC: fast\n  artifacts:\n    paths: [report/]\n';
      const { project, pipeline, runner } = await builds.prepare(config);
      const first = await runNext(runner, 'failed');
      const reply = await act(project.id, first.id, 'retry');
      assert.equal(reply.status, 201, reply.text);
      const retried = reply.body;
      assert.notEqual(retried.id, first.id);
      assert.equal(retried.status, 'pending');
      assert.equal(retried.name, 'rspec');
      assert.equal(retried.stage, 'test');
      assert.equal(retried.allow_failure, true);
      assert.equal(retried.runner, null);
      assert.equal(retried.started_at, null);
      assert.equal(retried.finished_at, null);
      const again = await runner.requestBuild();
      assert.ok(again, 'the runner got the new build');
      assert.equal(again.id, retried.id);
      assert.equal(again.commands, first.commands);
      assert.deepEqual(again.options, first.options);
      assert.notEqual(again.token, first.token);
      const spec = (payload: typeof first) => payload.variables.filter((v) => v.key === 'SPEC');
      assert.deepEqual(spec(again), spec(first));
      assert.equal(spec(again).length, 1);
      const jobs = await api.listJobs(project.id, pipeline.id);
      assert.deepEqual(jobs.map((job) => [job.id, job.status]), [[first.id, 'failed'], [retried.id, 'running']]);
    });

    test('success and canceled builds can be retried; a running one cannot (400 naming its status)', async () => {
      const { project, runner } = await builds.prepare();
      const running = await runner.requestBuild();
      assert.ok(running);
      const refused = await act(project.id, running.id, 'retry');
      assert.equal(refused.status, 400);
      assert.equal(refused.body.message, `400 Bad request - Cannot retry job ${running.id}: it is running`);
      assert.equal((await runner.runBuild(running, { output: ['ok\n'] })).state, 'success');
      const fromSuccess = await act(project.id, running.id, 'retry');
      assert.equal(fromSuccess.status, 201);
      assert.equal((await act(project.id, fromSuccess.body.id, 'cancel')).status, 201);
      const fromCanceled = await act(project.id, fromSuccess.body.id, 'retry');
      assert.equal(fromCanceled.status, 201);
      assert.equal(fromCanceled.body.status, 'pending');
    });

    test('only the newest build of a name can be retried, so a double click makes one new build', async () => {
      const { project, pipeline, runner } = await builds.prepare();
      const build = await runNext(runner, 'failed');
      const replies = await Promise.all([act(project.id, build.id, 'retry'), act(project.id, build.id, 'retry')]);
      assert.deepEqual(replies.map((r) => r.status).sort(), [201, 400]);
      const refused = replies.find((r) => r.status === 400)!;
      assert.equal(refused.body.message, `400 Bad request - Cannot retry job ${build.id}: it is failed, and was retried already`);
      assert.equal((await api.listJobs(project.id, pipeline.id)).length, 2);
    });

    test('depends_on_builds then shows only the newest build per name', async () => {
      const { project, pipeline, runner } = await builds.prepare(TWO_STAGES);
      const compile = await runNext(runner, 'failed');
      let byName = await jobsByName(project.id, pipeline.id);
      assert.equal(byName.get('rspec')![0]!.status, 'skipped');
      assert.equal((await api.getPipeline(project.id, pipeline.id)).status, 'failed');

      const retried = await act(project.id, compile.id, 'retry');
      assert.equal(retried.status, 201);
      byName = await jobsByName(project.id, pipeline.id);
      assert.equal(byName.get('rspec')![0]!.status, 'created', 'the skipped later stage waits again');
      assert.equal((await api.getPipeline(project.id, pipeline.id)).status, 'pending');

      const compile2 = await runNext(runner, 'success', { 'out/app': 'binary' });
      assert.equal(compile2.id, retried.body.id);
      const rspec = await runner.requestBuild();
      assert.ok(rspec);
      assert.equal(rspec.name, 'rspec');
      assert.deepEqual(rspec.depends_on_builds.map((d) => [d.id, d.name]), [[compile2.id, 'compile']]);
      const result = await runner.runBuild(rspec, { output: ['$ rspec\n'] });
      assert.deepEqual(Object.keys(result.downloaded), ['compile']);
      assert.equal((await api.getPipeline(project.id, pipeline.id)).status, 'success', 'the old failed compile no longer counts');
    });
  });

  describe('play', () => {
    test('a waiting manual job becomes pending and a runner gets it with CI_BUILD_MANUAL', async () => {
      const { project, pipeline, runner } = await builds.prepare(WITH_MANUAL_DEPLOY);
      await runNext(runner, 'success');
      const production = (await jobsByName(project.id, pipeline.id)).get('production')![0]!;
      assert.equal(production.status, 'skipped');
      assert.equal(await runner.requestBuild(), null);

      const reply = await act(project.id, production.id, 'play');
      assert.equal(reply.status, 200, reply.text);
      assert.equal(reply.body.status, 'pending');
      assert.equal(reply.body.id, production.id);
      assert.equal((await api.getPipeline(project.id, pipeline.id)).status, 'running');
      const build = await runner.requestBuild();
      assert.ok(build);
      assert.equal(build.id, production.id);
      assert.ok(build.variables.some((v) => v.key === 'CI_BUILD_MANUAL' && v.value === 'true' && v.public));
      await runner.runBuild(build, { output: ['deployed\n'] });
      assert.equal((await api.getPipeline(project.id, pipeline.id)).status, 'success');

      const replay = await act(project.id, production.id, 'play');
      assert.equal(replay.status, 400);
      assert.equal(replay.body.message, `400 Bad request - Cannot play job ${production.id}: it is success`);
    });

    test('a job that is not manual cannot be played: 400 naming its status', async () => {
      const { project, pipeline } = await builds.prepare();
      const [job] = await api.listJobs(project.id, pipeline.id);
      const reply = await act(project.id, job!.id, 'play');
      assert.equal(reply.status, 400);
      assert.equal(reply.body.message, `400 Bad request - Cannot play job ${job!.id}: it is pending, not a manual job`);
    });
  });

  describe('erase', () => {
    test('removes the trace and the artifacts; the build endpoints then answer 403 "Build has been erased!"', async () => {
      const { project, runner } = await builds.prepare(TWO_STAGES);
      const build = await runNext(runner, 'success', { 'out/app': 'binary' });
      const { file_key: fileKey } = await coordinator.db('job_artifacts').where({ build_id: build.id, file_type: 'archive' }).first('file_key');
      const archive = path.join(coordinator.dataDir, 'artifacts', String(build.id), `${fileKey}.zip`);
      assert.ok(fs.existsSync(archive));
      assert.ok((await getJob(project.id, build.id)).artifacts_file);

      const reply = await act(project.id, build.id, 'erase');
      assert.equal(reply.status, 201, reply.text);
      assert.equal(reply.body.id, build.id);
      assert.equal(reply.body.status, 'success');
      assert.equal(reply.body.artifacts_file, null);
      assert.equal(fs.existsSync(archive), false);
      const trace = await api.request('GET', `/api/v4/projects/${project.id}/jobs/${build.id}/trace`);
      assert.equal(trace.status, 200);
      assert.equal(trace.text, '');
      assert.equal((await api.request('GET', `/api/v4/projects/${project.id}/jobs/${build.id}/artifacts`)).status, 404);
      const row = await coordinator.db('builds').where({ id: build.id }).first();
      assert.ok(row.erased_at);
      assert.equal(Number(row.trace_length), 0);
      assert.equal((await coordinator.db('trace_chunks').where({ build_id: build.id })).length, 0);

      const erased = JSON.stringify({ message: '403 Forbidden  - Build has been erased!' });
      const patch = await runner.patchTrace(build.id, build.token, 0, 'late output\n');
      assert.equal(patch.status, 403);
      assert.equal(patch.body.toString(), erased);
      const download = await runner.downloadArtifacts(build.id, build.token);
      assert.equal(download.status, 403);
      assert.equal(download.body.toString(), erased);
      // PUT looks for a running build first, so a finished one answers 404: the runner aborts on both.
      assert.equal((await runner.putBuild(build.id, { state: 'success', trace: 'again' })).status, 404);
    });

    test('a running build cannot be erased (400 naming its status); a failed or canceled one can', async () => {
      const { project, runner } = await builds.prepare();
      const running = await runner.requestBuild();
      assert.ok(running);
      const refused = await act(project.id, running.id, 'erase');
      assert.equal(refused.status, 400);
      assert.equal(refused.body.message, `400 Bad request - Cannot erase job ${running.id}: it is running`);
      await runner.runBuild(running, { output: ['boom\n'], result: 'failed' });
      assert.equal((await act(project.id, running.id, 'erase')).status, 201);
      const other = await builds.prepare();
      const [pending] = await api.listJobs(other.project.id, other.pipeline.id);
      assert.equal((await act(other.project.id, pending!.id, 'erase')).body.message, `400 Bad request - Cannot erase job ${pending!.id}: it is pending`);
      await act(other.project.id, pending!.id, 'cancel');
      assert.equal((await act(other.project.id, pending!.id, 'erase')).status, 201);
    });
  });

  test('unknown jobs, jobs of another project and unknown projects answer 404', async () => {
    const { project, pipeline } = await builds.prepare();
    const other = await api.createProject();
    const [job] = await api.listJobs(project.id, pipeline.id);
    for (const action of ['cancel', 'retry', 'play', 'erase'] as const) {
      for (const [projectId, jobId] of [[project.id, 999_999], [other.id, job!.id], [999_999, job!.id]] as const) {
        const reply = await act(projectId, jobId, action);
        assert.equal(reply.status, 404, `${action} ${projectId}/${jobId}`);
        assert.deepEqual(reply.body, { message: '404 Not Found' });
      }
    }
    assert.equal((await act(project.id, job!.id, 'cancel')).status, 201, 'the job itself was untouched');
  });
});
