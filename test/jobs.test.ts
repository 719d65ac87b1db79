// The user API's job endpoints (GitLab v4 style), black-box through a real server: jobs are seeded
// by creating pipelines through the user API and driven by a runner through the runner API.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import type { components } from '../src/generated/api.js';
import type { TestCoordinator } from './support/coordinator.js';
import { BuildStarter, startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import { UserApi } from './support/userApi.js';
import { unzipToMap, zipToBuffer } from './support/zip.js';

type Job = components['schemas']['Job'];

const CI_CONFIG = `
stages: [build, test, deploy]
compile:
  stage: build
  script: make
rspec:
  stage: test
  script: rspec
lint:
  stage: test
  script: rubocop
  allow_failure: true
production:
  stage: deploy
  script: deploy
  when: manual
`;

describe('user API: jobs', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let builds: BuildStarter;

  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld();
    ({ coordinator, api, builds } = world);
  });
  after(() => world.stop());

  const projectWithPipeline = () => builds.prepare(CI_CONFIG, 'e2e runner');

  test('lists a pipeline\'s jobs in stage order, then by id, with every field', async () => {
    const { project, pipeline } = await projectWithPipeline();
    const jobs = await api.listJobs(project.id, pipeline.id);
    assert.deepEqual(jobs.map((job) => [job.name, job.stage, job.status]), [
      ['compile', 'build', 'pending'],
      ['rspec', 'test', 'created'],
      ['lint', 'test', 'created'],
      ['production', 'deploy', 'created'],
    ]);
    const ids = jobs.map((job) => job.id);
    assert.ok(ids[1]! < ids[2]!, 'same stage: by id');
    const [compile] = jobs;
    assert.deepEqual(Object.keys(compile!).sort(), [
      'allow_failure', 'artifacts_expire_at', 'artifacts_file', 'created_at', 'finished_at', 'id', 'name', 'ref', 'runner', 'stage', 'started_at', 'status', 'tag', 'when',
    ]);
    assert.equal(compile!.ref, 'master');
    assert.equal(compile!.tag, false);
    assert.equal(compile!.when, 'on_success');
    assert.equal(compile!.allow_failure, false);
    assert.equal(compile!.started_at, null);
    assert.equal(compile!.finished_at, null);
    assert.equal(compile!.runner, null);
    assert.equal(compile!.artifacts_file, null);
    assert.equal(compile!.artifacts_expire_at, null);
    assert.equal(jobs[2]!.allow_failure, true);
    assert.equal(jobs[3]!.when, 'manual');
  });

  test('a job shows its runner, its times and its artifacts as a runner moves it along', async () => {
    const { project, pipeline, runner } = await projectWithPipeline();
    const build = await runner.requestBuild();
    assert.ok(build);
    const running = await api.request<Job>('GET', `/api/v4/projects/${project.id}/jobs/${build.id}`);
    assert.equal(running.status, 200);
    assert.equal(running.headers.get('content-type'), 'application/json');
    assert.equal(running.body.status, 'running');
    assert.deepEqual(running.body.runner, { id: (runner.registration?.id as number), description: 'e2e runner', api_version: 'v1' });
    assert.ok(running.body.started_at);

    const zip = await zipToBuffer({ 'bin/app': 'app' });
    assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) }, { expireIn: '1 week' })).status, 201);
    assert.equal((await runner.putBuild(build.id, { state: 'success', trace: 'compiled\n' })).status, 200);
    const [done] = await api.listJobs(project.id, pipeline.id);
    assert.equal(done!.id, build.id);
    assert.equal(done!.status, 'success');
    assert.ok(done!.finished_at);
    assert.deepEqual(done!.artifacts_file, { filename: 'artifacts.zip', size: zip.length });
    assert.equal(typeof done!.artifacts_expire_at, 'string');
    const single = await api.request<Job>('GET', `/api/v4/projects/${project.id}/jobs/${build.id}`);
    assert.deepEqual(single.body, done);
  });

  test('the trace is text/plain, exactly the stored bytes, and empty before any', async () => {
    const { project, runner } = await projectWithPipeline();
    const build = await runner.requestBuild();
    assert.ok(build);
    const empty = await api.request('GET', `/api/v4/projects/${project.id}/jobs/${build.id}/trace`);
    assert.equal(empty.status, 200);
    assert.equal(empty.headers.get('content-type'), 'text/plain');
    assert.equal(empty.text, '');
    const text = 'Running with gitlab-ci-multi-runner\n$ make\nhéllo ✓ {"not":"json"}\n';
    assert.equal((await runner.patchTrace(build.id, build.token, 0, text)).status, 202);
    const reply = await fetch(`${coordinator.url}/api/v4/projects/${project.id}/jobs/${build.id}/trace`, { headers: { 'PRIVATE-TOKEN': coordinator.adminToken } });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('content-type'), 'text/plain');
    assert.ok(Buffer.from(await reply.arrayBuffer()).equals(Buffer.from(text)));
  });

  test('downloads a job\'s artifacts; 404 when it has none', async () => {
    const { project, runner } = await projectWithPipeline();
    const build = await runner.requestBuild();
    assert.ok(build);
    const none = await api.request('GET', `/api/v4/projects/${project.id}/jobs/${build.id}/artifacts`);
    assert.equal(none.status, 404);
    assert.deepEqual(none.body, { message: '404 Not Found' });
    const zip = await zipToBuffer({ 'report.txt': 'all green' });
    assert.equal((await runner.uploadArtifacts(build.id, build.token, { stream: Readable.from([zip]) }, { name: 'report' })).status, 201);
    const reply = await fetch(`${coordinator.url}/api/v4/projects/${project.id}/jobs/${build.id}/artifacts`, { headers: { 'PRIVATE-TOKEN': coordinator.adminToken } });
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('content-type'), 'application/octet-stream');
    assert.equal(reply.headers.get('content-disposition'), 'attachment; filename=report.zip');
    const body = Buffer.from(await reply.arrayBuffer());
    assert.ok(body.equals(zip));
    assert.equal((await unzipToMap(body))['report.txt']?.toString(), 'all green');
  });

  test('unknown ids, and jobs or pipelines of another project, are 404', async () => {
    const first = await projectWithPipeline();
    const second = await projectWithPipeline();
    const [firstJob] = await api.listJobs(first.project.id, first.pipeline.id);
    const paths = [
      `/api/v4/projects/999999/pipelines/${first.pipeline.id}/jobs`,
      `/api/v4/projects/${first.project.id}/pipelines/999999/jobs`,
      `/api/v4/projects/${second.project.id}/pipelines/${first.pipeline.id}/jobs`,
      `/api/v4/projects/${first.project.id}/jobs/999999`,
      `/api/v4/projects/999999/jobs/${firstJob!.id}`,
      `/api/v4/projects/${second.project.id}/jobs/${firstJob!.id}`,
      `/api/v4/projects/${second.project.id}/jobs/${firstJob!.id}/trace`,
      `/api/v4/projects/${second.project.id}/jobs/${firstJob!.id}/artifacts`,
    ];
    for (const path of paths) {
      const reply = await api.request('GET', path);
      assert.equal(reply.status, 404, path);
      assert.deepEqual(reply.body, { message: '404 Not Found' }, path);
    }
    const nonNumeric = await api.request('GET', `/api/v4/projects/${first.project.id}/jobs/abc`);
    assert.equal(nonNumeric.status, 400);
  });

  test('a project pending deletion and its jobs are invisible', async () => {
    const { project, pipeline } = await projectWithPipeline();
    const [job] = await api.listJobs(project.id, pipeline.id);
    // Projects are only marked pending_delete by an admin action the user API doesn't offer yet.
    await coordinator.db('projects').where({ id: project.id }).update({ pending_delete: true });
    for (const path of [
      `/api/v4/projects/${project.id}/pipelines/${pipeline.id}/jobs`,
      `/api/v4/projects/${project.id}/jobs/${job!.id}`,
      `/api/v4/projects/${project.id}/jobs/${job!.id}/trace`,
      `/api/v4/projects/${project.id}/jobs/${job!.id}/artifacts`,
    ]) {
      assert.equal((await api.request('GET', path)).status, 404, path);
    }
  });

  test('every job endpoint wants the PRIVATE-TOKEN: 401 without it or with a wrong one', async () => {
    const { project, pipeline } = await projectWithPipeline();
    const [job] = await api.listJobs(project.id, pipeline.id);
    for (const path of [
      `/api/v4/projects/${project.id}/pipelines/${pipeline.id}/jobs`,
      `/api/v4/projects/${project.id}/jobs/${job!.id}`,
      `/api/v4/projects/${project.id}/jobs/${job!.id}/trace`,
      `/api/v4/projects/${project.id}/jobs/${job!.id}/artifacts`,
    ]) {
      const bare = await fetch(`${coordinator.url}${path}`);
      assert.equal(bare.status, 401, path);
      assert.deepEqual(await bare.json(), { message: '401 Unauthorized' });
      const wrong = await api.request('GET', path, undefined, { 'PRIVATE-TOKEN': 'wrong' });
      assert.equal(wrong.status, 401, path);
    }
  });
});
