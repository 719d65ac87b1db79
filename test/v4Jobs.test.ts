// Runner API v4 jobs: POST /api/v4/jobs/request, PUT /api/v4/jobs/:id, PATCH /api/v4/jobs/:id/trace
// and the graceful cancel, black-box against a real server. Test names carry the ids of the
// mapping in test/v4Mapping.md (runner-protocol-v4.md §8).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { ManualClock } from './support/runningBuilds.js';
import { PIPELINE_SHA, storedTrace, type RawReply } from './support/runnerApi.js';
import { UserApi } from './support/userApi.js';
import { V4Api, logChecksum, v4Info, V4_FEATURES, type JobPayload } from './support/v4Api.js';
import { registerTestRunner } from './support/v4Runners.js';
import { openEventStream, traceData } from './support/sse.js';

const ONE_JOB = 'rspec:\n  script: [bundle exec rspec]\n';

interface World {
  coordinator: TestCoordinator;
  api: UserApi;
  v4: V4Api;
  clock: ManualClock;
}

async function startWorld(): Promise<World> {
  const clock = new ManualClock();
  const coordinator = await startTestCoordinator({}, clock);
  return { coordinator, api: new UserApi(coordinator.url, coordinator.adminToken), v4: new V4Api(coordinator.url), clock };
}

/** A project with `ciConfig`, its pipeline, and a specific runner of the project. */
async function fixture(world: World, ciConfig = ONE_JOB, options: { runner?: Record<string, unknown>; project?: Record<string, unknown>; pipeline?: Record<string, unknown> } = {}) {
  const project = await world.api.createProject({ repo_url: 'https://git.example.com/group/app.git', ...options.project });
  const pipeline = await world.api.createPipeline(project.id, { ci_config: ciConfig, sha: PIPELINE_SHA, ...options.pipeline });
  const runner = await registerTestRunner(world.coordinator.url, project.runners_token, { run_untagged: true, ...options.runner });
  return { project, pipeline, runner };
}

/** A fixture whose job a v4 runner (with `info`, else a graceful one) has taken. */
async function startRunningJob(world: World, config = ONE_JOB, info?: Record<string, unknown>) {
  const seeded = await fixture(world, config);
  const job = await world.v4.takeJob(seeded.runner.token, info ? { info } : {});
  return { ...seeded, job };
}

function assertJob(reply: RawReply): JobPayload {
  assert.equal(reply.status, 201, reply.text);
  assert.equal(reply.headers['content-type'], 'application/json');
  assert.equal(reply.headers['x-gitlab-last-update'], undefined);
  return reply.json as JobPayload;
}

function assertForbidden(reply: RawReply, jobStatus?: string): void {
  assert.equal(reply.status, 403, reply.text);
  assert.equal(reply.headers['content-type'], 'application/json');
  assert.match((reply.json as { message: string }).message, /^403 Forbidden/);
  assert.equal(reply.headers['job-status'], jobStatus);
}

const variableMap = (job: JobPayload) => new Map(job.variables.map((variable) => [variable.key, variable]));

describe('POST /api/v4/jobs/request', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(() => world.coordinator.stop());

  test('Q1: no token is 400, an unknown one 403', async () => {
    const missing = await world.v4.raw.request('POST', '/api/v4/jobs/request', { info: v4Info() });
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.json, { message: '400 (Bad request) "token" not given' });
    assertForbidden(await world.v4.requestJob('not-a-runner-token'));
  });

  test('Q2: a paused runner gets 204 with X-GitLab-Last-Update, and no job', async () => {
    const { runner, project, pipeline } = await fixture(world);
    await world.api.request('PUT', `/api/v4/runners/${runner.id}`, { active: false });
    const reply = await world.v4.requestJob(runner.token);
    assert.equal(reply.status, 204);
    assert.equal(reply.text, '');
    assert.match(String(reply.headers['x-gitlab-last-update']), /^[0-9a-f]+$/);
    assert.equal((await world.api.listJobs(project.id, pipeline.id))[0]?.status, 'pending');
  });

  test('Q3: nothing to do is 204 with X-GitLab-Last-Update; an old last_update still finds a new job', async () => {
    const project = await world.api.createProject();
    const runner = await registerTestRunner(world.coordinator.url, project.runners_token, { run_untagged: true });
    const idle = await world.v4.requestJob(runner.token);
    assert.equal(idle.status, 204);
    const lastUpdate = String(idle.headers['x-gitlab-last-update']);
    assert.ok(lastUpdate.length > 0);
    await world.api.createPipeline(project.id, { ci_config: ONE_JOB });
    assertJob(await world.v4.requestJob(runner.token, { last_update: lastUpdate }));
  });

  test('Q3: 204 whatever the User-Agent: stable, beta, pre-9.0 runners and none', async () => {
    const project = await world.api.createProject();
    const runner = await registerTestRunner(world.coordinator.url, project.runners_token, { run_untagged: true });
    for (const userAgent of ['gitlab-runner 17.11.0 (17-11-stable; go1.23.6; linux/amd64)', 'gitlab-runner 18.0.0~beta.93.g7b4a1e0c (main; go1.24.2; linux/amd64)', 'gitlab-ci-multi-runner 1.11.5 (1-11-stable; go1.8.3; linux/amd64)', 'Go-http-client/1.1']) {
      const reply = await world.v4.raw.request('POST', '/api/v4/jobs/request', { token: runner.token, info: v4Info() }, { 'User-Agent': userAgent });
      assert.equal(reply.status, 204, userAgent);
      assert.ok(reply.headers['x-gitlab-last-update'], userAgent);
    }
  });

  test('Q4: a pending job: 201 JSON with job_info, git_info, runner_info, steps, variables, features; it is running on the runner', async () => {
    const { runner, project, pipeline } = await fixture(world, ONE_JOB, { project: { build_timeout: 1800 } });
    world.clock.advance(1500);
    const job = assertJob(await world.v4.requestJob(runner.token));
    assert.deepEqual(job.job_info, {
      id: job.id, name: 'rspec', stage: 'test', project_id: project.id, project_name: project.name, pipeline_id: pipeline.id, time_in_queue_seconds: 1.5,
    });
    assert.deepEqual(job.git_info, {
      repo_url: 'https://git.example.com/group/app.git', ref: 'master', sha: PIPELINE_SHA, before_sha: '0000000000000000000000000000000000000000',
      ref_type: 'branch', refspecs: ['+refs/heads/master:refs/remotes/origin/master', '+refs/tags/*:refs/tags/*', '+refs/heads/*:refs/remotes/origin/*'], depth: 0,
    });
    assert.deepEqual(job.runner_info, { timeout: 1800 });
    assert.deepEqual(job.steps, [{ name: 'script', script: ['bundle exec rspec'], timeout: 1800, when: 'on_success', allow_failure: false }]);
    assert.deepEqual(job.features.trace_sections, true);
    assert.ok(job.features.failure_reasons.includes('script_failure'));
    // Nothing configured: every list is an empty array, the image null.
    assert.deepEqual([job.services, job.artifacts, job.cache, job.dependencies, job.credentials, job.image], [[], [], [], [], [], null]);
    assert.equal(job.allow_git_fetch, true);
    const row = await world.coordinator.db('builds').where({ id: job.id }).first();
    assert.deepEqual([row.status, row.runner_id, row.runner_api, Boolean(row.cancel_gracefully)], ['running', runner.id, 'v4', true]);
  });

  test('Q4: the v4 predefined variables beside the v1 CI_BUILD_* ones; the job token and long secrets masked', async () => {
    const config = 'variables:\n  DB_NAME: postgres\nrspec:\n  script: rspec\n';
    const { runner, project, pipeline } = await fixture(world, config);
    await world.api.request('POST', `/api/v4/projects/${project.id}/variables`, { key: 'DEPLOY_PASSWORD', value: 'correct-horse-battery' });
    await world.api.request('POST', `/api/v4/projects/${project.id}/variables`, { key: 'SHORT', value: 'abc' });
    const job = await world.v4.takeJob(runner.token);
    const variables = variableMap(job);
    const expect = (key: string, value: string, isPublic = true, masked = false) => assert.deepEqual(variables.get(key), { key, value, public: isPublic, masked }, key);
    expect('CI', 'true');
    expect('GITLAB_CI', 'true');
    expect('CI_JOB_ID', String(job.id));
    expect('CI_JOB_TOKEN', job.token, false, true);
    expect('CI_JOB_NAME', 'rspec');
    expect('CI_JOB_STAGE', 'test');
    expect('CI_COMMIT_SHA', PIPELINE_SHA);
    expect('CI_COMMIT_SHORT_SHA', PIPELINE_SHA.slice(0, 8));
    expect('CI_COMMIT_REF_NAME', 'master');
    expect('CI_COMMIT_REF_SLUG', 'master');
    expect('CI_COMMIT_BRANCH', 'master');
    expect('CI_PIPELINE_ID', String(pipeline.id));
    expect('CI_BUILD_ID', String(job.id));
    expect('CI_BUILD_TOKEN', job.token, false, true);
    expect('CI_BUILD_REF_NAME', 'master');
    expect('CI_PROJECT_ID', String(project.id));
    expect('CI_RUNNER_ID', String(runner.id));
    expect('DB_NAME', 'postgres');
    expect('DEPLOY_PASSWORD', 'correct-horse-battery', false, true);
    expect('SHORT', 'abc', false, false);
    assert.equal(variables.get('CI_COMMIT_TAG'), undefined);
    assert.equal(new Set(job.variables.map((v) => v.key)).size, job.variables.length, 'no key twice');
  });

  test('Q5: a tag job has ref_type tag and CI_COMMIT_TAG; GIT_DEPTH gives the depth and one refspec', async () => {
    const config = 'variables:\n  GIT_DEPTH: "20"\nrelease:\n  script: make release\n';
    const { runner } = await fixture(world, config, { pipeline: { ref: 'v1.0.0', tag: true } });
    const job = await world.v4.takeJob(runner.token);
    assert.equal(job.git_info.ref_type, 'tag');
    assert.equal(job.git_info.depth, 20);
    assert.deepEqual(job.git_info.refspecs, ['+refs/tags/v1.0.0:refs/tags/v1.0.0']);
    assert.equal(variableMap(job).get('CI_COMMIT_TAG')?.value, 'v1.0.0');
    assert.equal(variableMap(job).get('CI_COMMIT_BRANCH'), undefined);
  });

  test('Q6: image, services, after_script, artifacts and cache in the runner\'s shapes', async () => {
    const config = [
      'rspec:',
      '  image: ruby:3.3',
      '  services: [postgres:16, redis]',
      '  before_script: [bundle install]',
      '  script: [bundle exec rspec, echo done]',
      '  after_script: [rm -rf tmp]',
      '  artifacts: { name: results, paths: [out/], when: always, expire_in: 1 week }',
      '  cache: { key: gems, paths: [vendor/] }',
      '',
    ].join('\n');
    const { runner } = await fixture(world, config, { project: { build_timeout: 600 } });
    const job = await world.v4.takeJob(runner.token);
    assert.deepEqual(job.image, { name: 'ruby:3.3', entrypoint: [], ports: [] });
    assert.deepEqual(job.services, [
      { name: 'postgres:16', entrypoint: [], ports: [], alias: '', command: [] },
      { name: 'redis', entrypoint: [], ports: [], alias: '', command: [] },
    ]);
    assert.deepEqual(job.steps, [
      { name: 'script', script: ['bundle install', 'bundle exec rspec', 'echo done'], timeout: 600, when: 'on_success', allow_failure: false },
      { name: 'after_script', script: ['rm -rf tmp'], timeout: 600, when: 'always', allow_failure: true },
    ]);
    assert.deepEqual(job.artifacts, [{ name: 'results', untracked: false, paths: ['out/'], when: 'always', expire_in: '1 week', artifact_type: 'archive', artifact_format: 'zip' }]);
    assert.deepEqual(job.cache, [{ key: 'gems', untracked: false, paths: ['vendor/'], policy: 'pull-push', when: 'on_success', fallback_keys: [] }]);
  });

  test('Q7: dependencies: the earlier stages with their own tokens; `dependencies:` honoured; [] gives none', async () => {
    const config = [
      'stages: [build, test]',
      'compile:\n  stage: build\n  script: make',
      'docs:\n  stage: build\n  script: make docs',
      'rspec:\n  stage: test\n  script: rspec\n  dependencies: [compile]',
      'lint:\n  stage: test\n  script: lint\n  dependencies: []',
      'all:\n  stage: test\n  script: all',
      '',
    ].join('\n');
    const { runner } = await fixture(world, config);
    const built: JobPayload[] = [];
    for (let i = 0; i < 2; i++) {
      const job = await world.v4.takeJob(runner.token);
      assert.equal(job.dependencies.length, 0);
      built.push(job);
      assert.equal((await world.v4.updateJob(job.id, { token: job.token, state: 'success' })).status, 200);
    }
    const compile = built.find((job) => job.job_info.name === 'compile')!;
    const docs = built.find((job) => job.job_info.name === 'docs')!;
    const byName = new Map<string, JobPayload>();
    for (let i = 0; i < 3; i++) {
      const job = await world.v4.takeJob(runner.token);
      byName.set(job.job_info.name, job);
    }
    assert.deepEqual(byName.get('rspec')?.dependencies, [{ id: compile.id, name: 'compile', token: compile.token }]);
    assert.deepEqual(byName.get('lint')?.dependencies, []);
    assert.deepEqual(byName.get('all')?.dependencies, [
      { id: compile.id, name: 'compile', token: compile.token },
      { id: docs.id, name: 'docs', token: docs.token },
    ]);
  });

  test('Q8: a runner that does not run untagged jobs gets none; a tagged one gets its tagged job', async () => {
    const { runner } = await fixture(world, 'rspec:\n  script: rspec\n', { runner: { run_untagged: false, tag_list: 'ruby' } });
    assert.equal((await world.v4.requestJob(runner.token)).status, 204);
    const { runner: tagged } = await fixture(world, 'rspec:\n  tags: [ruby]\n  script: rspec\n', { runner: { run_untagged: false, tag_list: 'ruby' } });
    assertJob(await world.v4.requestJob(tagged.token));
  });

  test('Q9: info updates the runner record', async () => {
    const { runner } = await fixture(world);
    await world.v4.requestJob(runner.token, { info: { ...v4Info(), version: '18.0.1', platform: 'darwin' } });
    const row = await world.coordinator.db('runners').where({ id: runner.id }).first();
    assert.deepEqual([row.version, row.platform, row.name], ['18.0.1', 'darwin', 'gitlab-runner']);
  });

  test('Q12: the timeout is the project\'s, lowered to the runner\'s maximum_timeout when that is smaller', async () => {
    const { runner } = await fixture(world, ONE_JOB, { project: { build_timeout: 3600 }, runner: { maximum_timeout: 900 } });
    const job = await world.v4.takeJob(runner.token);
    assert.deepEqual([job.runner_info.timeout, job.steps[0]?.timeout], [900, 900]);
    const { runner: roomy } = await fixture(world, ONE_JOB, { project: { build_timeout: 600 }, runner: { maximum_timeout: 7200 } });
    assert.equal((await world.v4.takeJob(roomy.token)).runner_info.timeout, 600);
  });

  test('Q10: a runner without cancel_gracefully holds its job for a hard cancel', async () => {
    const { runner } = await fixture(world);
    const job = await world.v4.takeJob(runner.token, { info: v4Info({ ...V4_FEATURES, cancel_gracefully: false }) });
    const row = await world.coordinator.db('builds').where({ id: job.id }).first();
    assert.equal(Boolean(row.cancel_gracefully), false);
  });
});

describe('PUT /api/v4/jobs/:id', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(() => world.coordinator.stop());

  const runningJob = (config?: string, info?: Record<string, unknown>) => startRunningJob(world, config, info);
  const buildRow = (id: number) => world.coordinator.db('builds').where({ id }).first();

  test('U1: success finishes the job: 200, Job-Status: success, no update interval; the pipeline goes on', async () => {
    const { job, project, pipeline } = await runningJob();
    const reply = await world.v4.updateJob(job.id, { token: job.token, state: 'success', unknown_field: 'ignored' });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['job-status'], 'success');
    assert.equal(reply.headers['x-gitlab-trace-update-interval'], undefined);
    assert.equal((await world.api.getPipeline(project.id, pipeline.id)).status, 'success');
  });

  test('U2: failed with failure_reason and exit_code; an unknown reason is unknown_failure; JOB-TOKEN alone authenticates', async () => {
    const first = await runningJob();
    const reply = await world.v4.updateJob(first.job.id, { state: 'failed', failure_reason: 'script_failure', exit_code: 42 }, { 'JOB-TOKEN': first.job.token });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['job-status'], 'failed');
    const row = await buildRow(first.job.id);
    assert.deepEqual([row.status, row.failure_reason, row.exit_code], ['failed', 'script_failure', 42]);
    assert.equal((await world.api.getPipeline(first.project.id, first.pipeline.id)).status, 'failed');
    const second = await runningJob();
    await world.v4.updateJob(second.job.id, { token: second.job.token, state: 'failed', failure_reason: 'cosmic_rays' });
    assert.equal((await buildRow(second.job.id)).failure_reason, 'unknown_failure');
  });

  test('U3: running is a keep-alive: 200, Job-Status: running, an update interval, updated_at touched', async () => {
    const { job } = await runningJob();
    world.clock.advance(60_000);
    const reply = await world.v4.updateJob(job.id, { token: job.token, state: 'running', output: { checksum: logChecksum(''), bytesize: 0 } });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['job-status'], 'running');
    assert.equal(reply.headers['x-gitlab-trace-update-interval'], '60');
    assert.equal((await buildRow(job.id)).updated_at, world.clock.now().toISOString());
  });

  test('U4: a checksum that does not match the stored log is 202 with an interval; once the log matches, 200', async () => {
    const { job } = await runningJob();
    const log = 'Running with gitlab-runner 17.11.0\n$ bundle exec rspec\n';
    const half = Buffer.byteLength(log) - 10;
    assert.equal((await world.v4.patchTrace(job.id, job.token, 0, log.slice(0, half))).status, 202);
    const final = { token: job.token, state: 'success', output: { checksum: logChecksum(log), bytesize: Buffer.byteLength(log) } };
    const waiting = await world.v4.updateJob(job.id, final);
    assert.equal(waiting.status, 202, waiting.text);
    assert.equal(waiting.headers['job-status'], 'running');
    assert.ok(Number(waiting.headers['x-gitlab-trace-update-interval']) > 0);
    assert.equal((await buildRow(job.id)).status, 'running');
    assert.equal((await world.v4.patchTrace(job.id, job.token, half, log.slice(half))).status, 202);
    const done = await world.v4.updateJob(job.id, final);
    assert.equal(done.status, 200, done.text);
    assert.equal(done.headers['job-status'], 'success');
    assert.equal((await buildRow(job.id)).final_update_pending_since, null);
  });

  test('U5: a checksum that never matches: 202 with a growing interval, then after five minutes the state is taken anyway', async () => {
    const { job } = await runningJob();
    const final = { token: job.token, state: 'failed', failure_reason: 'script_failure', checksum: 'crc32:deadbeef' };
    const intervals: number[] = [];
    for (const waitMs of [0, 2_000, 8_000, 120_000]) {
      world.clock.advance(waitMs);
      const reply = await world.v4.updateJob(job.id, final);
      assert.equal(reply.status, 202, reply.text);
      intervals.push(Number(reply.headers['x-gitlab-trace-update-interval']));
    }
    assert.deepEqual(intervals, [1, 2, 8, 60]);
    world.clock.advance(5 * 60_000);
    const accepted = await world.v4.updateJob(job.id, final);
    assert.equal(accepted.status, 200, accepted.text);
    assert.equal(accepted.headers['job-status'], 'failed');
  });

  test('U6: a bytesize alone is checked too', async () => {
    const { job } = await runningJob();
    const wrong = await world.v4.updateJob(job.id, { token: job.token, state: 'success', output: { bytesize: 5 } });
    assert.equal(wrong.status, 202);
    await world.v4.patchTrace(job.id, job.token, 0, 'hello');
    assert.equal((await world.v4.updateJob(job.id, { token: job.token, state: 'success', output: { bytesize: 5 } })).status, 200);
  });

  test('U7: any other state is 400 and changes nothing', async () => {
    const { job } = await runningJob();
    for (const state of ['canceled', 'pending', 'bogus', undefined]) {
      const reply = await world.v4.updateJob(job.id, { token: job.token, ...(state ? { state } : {}) });
      assert.equal(reply.status, 400, `${state}: ${reply.text}`);
      assert.match((reply.json as { message: string }).message, /^400 /);
    }
    assert.equal((await buildRow(job.id)).status, 'running');
  });

  test('U8: wrong token, runners token, missing job: 403 without Job-Status', async () => {
    const { job, project } = await runningJob();
    assertForbidden(await world.v4.updateJob(job.id, { token: 'wrong', state: 'success' }));
    assertForbidden(await world.v4.updateJob(job.id, { state: 'success' }));
    assertForbidden(await world.v4.updateJob(job.id, { token: project.runners_token, state: 'success' }));
    assertForbidden(await world.v4.updateJob(999_999, { token: job.token, state: 'success' }));
    assert.equal((await buildRow(job.id)).status, 'running');
  });

  test('U9: a finished job is 403 with Job-Status: failed; a canceled one with Job-Status: canceled', async () => {
    const failed = await runningJob();
    await world.v4.updateJob(failed.job.id, { token: failed.job.token, state: 'failed' });
    assertForbidden(await world.v4.updateJob(failed.job.id, { token: failed.job.token, state: 'success' }), 'failed');
    const canceled = await runningJob(ONE_JOB, v4Info({ ...V4_FEATURES, cancel_gracefully: false }));
    await world.api.request('POST', `/api/v4/projects/${canceled.project.id}/jobs/${canceled.job.id}/cancel`);
    assertForbidden(await world.v4.updateJob(canceled.job.id, { token: canceled.job.token, state: 'running' }), 'canceled');
    assert.equal((await buildRow(canceled.job.id)).status, 'canceled');
  });

  test('U10: an erased job is 403', async () => {
    const { job } = await runningJob();
    await world.coordinator.db('builds').where({ id: job.id }).update({ erased_at: world.clock.now().toISOString() });
    assertForbidden(await world.v4.updateJob(job.id, { token: job.token, state: 'success' }));
  });
});

describe('PATCH /api/v4/jobs/:id/trace', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(() => world.coordinator.stop());

  const runningJob = (config?: string, info?: Record<string, unknown>) => startRunningJob(world, config, info);

  test('T1: a patch with the inclusive range is appended: 202 with Range (exclusive end), Job-Status, update interval', async () => {
    const { job } = await runningJob();
    const first = await world.v4.patchTrace(job.id, job.token, 0, 'BUILD TRACE');
    assert.equal(first.status, 202, first.text);
    assert.equal(first.headers['range'], '0-11');
    assert.equal(first.headers['job-status'], 'running');
    assert.equal(first.headers['x-gitlab-trace-update-interval'], '60');
    const second = await world.v4.patchTrace(job.id, job.token, 11, ' appended');
    assert.equal(second.headers['range'], '0-20');
    assert.equal(await storedTrace(world.coordinator.db, job.id), 'BUILD TRACE appended');
  });

  test('T2: one byte at 0 is `0-0`, two bytes `0-1` (the runner\'s own test); the end is not relied on', async () => {
    const { job } = await runningJob();
    assert.equal((await world.v4.patchTrace(job.id, job.token, 0, 'a', '0-0')).headers['range'], '0-1');
    assert.equal((await world.v4.patchTrace(job.id, job.token, 1, 'bc', '1-2')).headers['range'], '0-3');
    // An exclusive end, as v1 runners send it: GitLab takes the length from the body, and so do we.
    assert.equal((await world.v4.patchTrace(job.id, job.token, 3, 'de', '3-5')).headers['range'], '0-5');
    assert.equal(await storedTrace(world.coordinator.db, job.id), 'abcde');
  });

  test('T3: a start beyond or inside the stored log is 416 with Range: 0-11, nothing stored', async () => {
    const { job } = await runningJob();
    await world.v4.patchTrace(job.id, job.token, 0, 'BUILD TRACE');
    for (const [start, range] of [[15, '15-20'], [8, '8-20']] as const) {
      const reply = await world.v4.patchTrace(job.id, job.token, start, 'xxxxxx', range);
      assert.equal(reply.status, 416, `${range}: ${reply.text}`);
      assert.equal(reply.headers['range'], '0-11');
      assert.deepEqual(reply.json, { message: '416 Range Not Satisfiable' });
    }
    assert.equal(await storedTrace(world.coordinator.db, job.id), 'BUILD TRACE');
  });

  test('T4: a lost log: a patch at 28 on an empty log is 416 Range: 0-0, a full re-send from 0 is 202', async () => {
    const { job } = await runningJob();
    const late = await world.v4.patchTrace(job.id, job.token, 28, 'tail');
    assert.equal(late.status, 416);
    assert.equal(late.headers['range'], '0-0');
    const resend = await world.v4.patchTrace(job.id, job.token, 0, 'the whole log, from the start');
    assert.equal(resend.status, 202);
  });

  test('T5: no Content-Range is 400; a malformed one 400', async () => {
    const { job } = await runningJob();
    for (const range of [null, 'bytes 0-3/4', '-3']) {
      const reply = await world.v4.patchTrace(job.id, job.token, 0, 'data', range);
      assert.equal(reply.status, 400, `${range}: ${reply.text}`);
    }
    assert.equal(await storedTrace(world.coordinator.db, job.id), '');
  });

  test('T6: wrong, missing or runners token, missing job: 403; a canceled job 403 with Job-Status: canceled', async () => {
    const { job, project } = await runningJob(ONE_JOB, v4Info({ ...V4_FEATURES, cancel_gracefully: false }));
    assertForbidden(await world.v4.patchTrace(job.id, 'wrong', 0, 'x'));
    assertForbidden(await world.v4.patchTrace(job.id, undefined, 0, 'x'));
    assertForbidden(await world.v4.patchTrace(job.id, project.runners_token, 0, 'x'));
    assertForbidden(await world.v4.patchTrace(999_999, job.token, 0, 'x'));
    await world.api.request('POST', `/api/v4/projects/${project.id}/jobs/${job.id}/cancel`);
    assertForbidden(await world.v4.patchTrace(job.id, job.token, 0, 'x'), 'canceled');
    assert.equal(await storedTrace(world.coordinator.db, job.id), '');
  });

  test('T7: the job token and long secret variables are masked in the stored log, lengths kept', async () => {
    const seeded = await fixture(world);
    await world.api.request('POST', `/api/v4/projects/${seeded.project.id}/variables`, { key: 'API_KEY', value: 'sup3r-s3cret-key' });
    const job = await world.v4.takeJob(seeded.runner.token);
    const line = `token=${job.token} key=sup3r-s3cret-key\n`;
    const reply = await world.v4.patchTrace(job.id, job.token, 0, line);
    assert.equal(reply.headers['range'], `0-${Buffer.byteLength(line)}`);
    assert.equal(await storedTrace(world.coordinator.db, job.id), `token=${'x'.repeat(job.token.length)} key=${'x'.repeat(16)}\n`);
  });
  test('T8: an empty patch at the stored length changes nothing and answers 202', async () => {
    const { job } = await runningJob();
    await world.v4.patchTrace(job.id, job.token, 0, 'BUILD TRACE');
    const reply = await world.v4.patchTrace(job.id, job.token, 11, '', '11-11');
    assert.equal(reply.status, 202);
    assert.equal(reply.headers['range'], '0-11');
    assert.equal(await storedTrace(world.coordinator.db, job.id), 'BUILD TRACE');
  });

  test('T9: a deleted project\'s job and an erased job are 403, nothing stored', async () => {
    const deleted = await runningJob();
    assert.equal((await world.api.request('DELETE', `/api/v4/projects/${deleted.project.id}`)).status, 202);
    assertForbidden(await world.v4.patchTrace(deleted.job.id, deleted.job.token, 0, 'x'));
    const erased = await runningJob();
    await world.coordinator.db('builds').where({ id: erased.job.id }).update({ erased_at: world.clock.now().toISOString() });
    assertForbidden(await world.v4.patchTrace(erased.job.id, erased.job.token, 0, 'x'));
    assert.equal(await storedTrace(world.coordinator.db, erased.job.id), '');
  });

  test('T10: two patches racing for one offset: one is appended, the other gets 416 (GitLab: 409 on its lock)', async () => {
    const { job } = await runningJob();
    const replies = await Promise.all([world.v4.patchTrace(job.id, job.token, 0, 'first\n'), world.v4.patchTrace(job.id, job.token, 0, 'second\n')]);
    assert.deepEqual(replies.map((reply) => reply.status).sort(), [202, 416]);
    const stored = await storedTrace(world.coordinator.db, job.id);
    assert.ok(stored === 'first\n' || stored === 'second\n', stored);
  });

  test('T11: while someone follows the live trace, the runner is asked to send every 3 s', async () => {
    const { job, project } = await runningJob();
    assert.equal((await world.v4.patchTrace(job.id, job.token, 0, '', '0-0')).headers['x-gitlab-trace-update-interval'], '60');
    const stream = await openEventStream(`${world.coordinator.url}/api/v4/projects/${project.id}/jobs/${job.id}/trace/stream`, { 'PRIVATE-TOKEN': world.coordinator.adminToken });
    try {
      assert.equal(stream.status, 200);
      // The follower waits once it has read the (empty) log; empty patches change nothing meanwhile.
      let interval: unknown;
      for (let attempt = 0; attempt < 40 && interval !== '3'; attempt++) {
        await new Promise((resolve) => setTimeout(resolve, 50));
        interval = (await world.v4.patchTrace(job.id, job.token, 0, '', '0-0')).headers['x-gitlab-trace-update-interval'];
      }
      assert.equal(interval, '3');
      const first = await world.v4.patchTrace(job.id, job.token, 0, 'watched\n');
      assert.equal(first.headers['x-gitlab-trace-update-interval'], '3');
      assert.equal(traceData(await stream.next()).text, 'watched\n');
    } finally {
      await stream.close();
    }
  });
});

describe('cancel of a v4 job', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(() => world.coordinator.stop());

  const cancel = (projectId: number, jobId: number) => world.api.request<{ status: string }>('POST', `/api/v4/projects/${projectId}/jobs/${jobId}/cancel`);

  test('C1: graceful: canceling first (PATCH 202 and PUT 200 say so), the final failed PUT makes it canceled', async () => {
    const { project, pipeline, runner } = await fixture(world, 'rspec:\n  script: rspec\n  after_script: [cleanup]\n');
    const job = await world.v4.takeJob(runner.token);
    const canceled = await cancel(project.id, job.id);
    assert.equal(canceled.status, 201);
    assert.equal(canceled.body.status, 'canceling');
    assert.equal((await world.api.getPipeline(project.id, pipeline.id)).status, 'running');
    const patch = await world.v4.patchTrace(job.id, job.token, 0, '$ cleanup\n');
    assert.equal(patch.status, 202);
    assert.equal(patch.headers['job-status'], 'canceling');
    assert.equal(patch.headers['x-gitlab-trace-update-interval'], '3');
    const keepAlive = await world.v4.updateJob(job.id, { token: job.token, state: 'running' });
    assert.equal(keepAlive.status, 200);
    assert.equal(keepAlive.headers['job-status'], 'canceling');
    const final = await world.v4.updateJob(job.id, { token: job.token, state: 'failed', failure_reason: 'job_canceled', output: { checksum: logChecksum('$ cleanup\n'), bytesize: 10 } });
    assert.equal(final.status, 200, final.text);
    assert.equal(final.headers['job-status'], 'canceled');
    const row = await world.coordinator.db('builds').where({ id: job.id }).first();
    assert.deepEqual([row.status, row.failure_reason, Boolean(row.finished_at)], ['canceled', 'job_canceled', true]);
    assert.equal((await world.api.getPipeline(project.id, pipeline.id)).status, 'canceled');
  });

  test('C2: canceling it again cancels at once; the runner is then refused with Job-Status: canceled', async () => {
    const { project, runner } = await fixture(world);
    const job = await world.v4.takeJob(runner.token);
    assert.equal((await cancel(project.id, job.id)).body.status, 'canceling');
    assert.equal((await cancel(project.id, job.id)).body.status, 'canceled');
    assertForbidden(await world.v4.patchTrace(job.id, job.token, 0, 'x'), 'canceled');
    assert.equal((await cancel(project.id, job.id)).status, 400);
  });

  test('C3: a pipeline cancel puts its graceful v4 job in canceling and the pending ones in canceled', async () => {
    const { project, pipeline, runner } = await fixture(world, 'stages: [a, b]\none:\n  stage: a\n  script: x\ntwo:\n  stage: a\n  script: y\nthree:\n  stage: b\n  script: z\n');
    const job = await world.v4.takeJob(runner.token);
    const reply = await world.api.request('POST', `/api/v4/projects/${project.id}/pipelines/${pipeline.id}/cancel`);
    assert.equal(reply.status, 200, JSON.stringify(reply.body));
    assert.equal((reply.body as { status: string }).status, 'running', 'still running while its job runs after_script');
    const statuses = Object.fromEntries((await world.api.listJobs(project.id, pipeline.id)).map((j) => [j.name, j.status]));
    assert.deepEqual(statuses, { one: job.job_info.name === 'one' ? 'canceling' : 'canceled', two: job.job_info.name === 'two' ? 'canceling' : 'canceled', three: 'canceled' });
    await world.v4.updateJob(job.id, { token: job.token, state: 'failed', failure_reason: 'unknown_failure' });
    assert.equal((await world.api.getPipeline(project.id, pipeline.id)).status, 'canceled');
  });

  test('C4: a success reported while canceling still ends canceled', async () => {
    const { project, runner } = await fixture(world);
    const job = await world.v4.takeJob(runner.token);
    await cancel(project.id, job.id);
    const final = await world.v4.updateJob(job.id, { token: job.token, state: 'success' });
    assert.equal(final.headers['job-status'], 'canceled');
  });
});

describe('jobs/request shares v1\'s long polling', () => {
  let coordinator: TestCoordinator;
  before(async () => {
    coordinator = await startTestCoordinator({ CI_LONG_POLL_SECONDS: '5' });
  });
  after(() => coordinator.stop());

  test('Q11: a held request is answered with the job the moment it is queued; system_id is recorded once', async () => {
    const api = new UserApi(coordinator.url, coordinator.adminToken);
    const v4 = new V4Api(coordinator.url);
    const project = await api.createProject();
    const runner = await registerTestRunner(coordinator.url, project.runners_token, { run_untagged: true });
    const held = v4.requestJob(runner.token, { system_id: 's_0123456789ab' });
    await new Promise((resolve) => setTimeout(resolve, 300));
    const queuedAt = Date.now();
    await api.createPipeline(project.id, { ci_config: ONE_JOB });
    const reply = await held;
    assert.equal(reply.status, 201, reply.text);
    assert.ok(Date.now() - queuedAt < 2000, 'answered well before the hold ends');
    assert.equal((reply.json as JobPayload).job_info.name, 'rspec');
    const managers = await coordinator.db('runner_managers').where({ runner_id: runner.id }).select('system_id');
    assert.deepEqual(managers.map((row: { system_id: string }) => row.system_id), ['s_0123456789ab']);
  });
});
