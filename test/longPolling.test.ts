// Long polling of builds/register (issue 7, "instant pickup"): a request with nothing for it
// is held until a build it may take is queued, whatever made it pending, and only then.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { RunnerAdminApi } from './support/runnerAdminApi.js';
import { GO_UA, RunnerApi, type BuildDetails, type RawReply } from './support/runnerApi.js';
import { UserApi } from './support/userApi.js';
import { parseMetrics } from './support/prometheus.js';

/** One job per name, all in the first stage. */
function jobs(...names: string[]): string {
  return names.map((name) => `${name}:\n  script: make ${name}\n`).join('');
}

function taggedJob(name: string, tags: string[]): string {
  return `${name}:\n  script: make\n  tags: [${tags.join(', ')}]\n`;
}

interface Harness {
  coordinator: TestCoordinator;
  api: UserApi;
  admin: RunnerAdminApi;
  runners: RunnerApi;
}

async function startHarness(env: Record<string, string>): Promise<Harness> {
  const coordinator = await startTestCoordinator(env);
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  return { coordinator, api, admin: new RunnerAdminApi(api), runners: new RunnerApi(coordinator.url) };
}

/** Resolves once `condition` holds; the test's own timeout bounds the wait. */
async function eventually(condition: () => boolean | Promise<boolean>, what: string): Promise<void> {
  for (let attempt = 0; ; attempt += 1) {
    if (await condition()) return;
    if (attempt > 2000) throw new Error(`never happened: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

function buildName(reply: RawReply): string {
  assert.equal(reply.status, 201, reply.text);
  return (reply.json as BuildDetails).name;
}

async function waitingGauge(h: Harness): Promise<number> {
  const reply = await h.api.request<string>('GET', '/metrics');
  return parseMetrics(reply.text).value('coordinator_long_polls_waiting', { api: 'v1' });
}

/** A build request of this runner, once the server holds it. */
async function heldRequest(h: Harness, token: string) {
  const before = h.coordinator.longPollsWaiting();
  const request = h.runners.heldBuildRequest(token);
  await eventually(() => h.coordinator.longPollsWaiting() === before + 1, 'the request is held');
  return request;
}

describe('long polling (CI_LONG_POLL_SECONDS=60)', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ CI_LONG_POLL_SECONDS: '60' });
  });
  after(async () => {
    await h.coordinator.stop();
  });

  /** A project with its own specific runner; both tagged as given. */
  async function projectAndRunner(fields: Record<string, unknown> = {}) {
    const project = await h.api.createProject();
    const runner = await h.runners.registerRunner({ token: project.runners_token, ...fields });
    return { project, runner };
  }

  const held = (token: string) => heldRequest(h, token);

  test('a held request answers at once with the build of a new pipeline, and the gauge counts it while it waits', async () => {
    const { project, runner } = await projectAndRunner();
    const request = await held(runner.token);
    assert.equal(await waitingGauge(h), 1);
    await h.api.createPipeline(project.id, { ci_config: jobs('compile') });
    assert.equal(buildName(await request.reply), 'compile');
    assert.equal(h.coordinator.longPollsWaiting(), 0);
    assert.equal(await waitingGauge(h), 0);
  });

  test('only the runners that may take the build wake: tags, run_untagged, and another project', async () => {
    const { project, runner: untagged } = await projectAndRunner();
    const { runner: docker } = await projectAndRunner({ tag_list: 'docker', run_untagged: false });
    await h.admin.assign(project.id, docker.id);
    const { runner: elsewhere } = await projectAndRunner();
    const heldDocker = await held(docker.token);
    const heldElsewhere = await held(elsewhere.token);
    const heldUntagged = await held(untagged.token);

    await h.api.createPipeline(project.id, { ci_config: jobs('plain') });
    assert.equal(buildName(await heldUntagged.reply), 'plain');
    assert.equal(h.coordinator.longPollsWaiting(), 2, 'the docker runner and the other project\'s runner still wait');

    await h.api.createPipeline(project.id, { ci_config: taggedJob('in-docker', ['docker']) });
    assert.equal(buildName(await heldDocker.reply), 'in-docker');
    assert.equal(h.coordinator.longPollsWaiting(), 1);
    heldElsewhere.abandon();
    await assert.rejects(heldElsewhere.reply);
    await eventually(() => h.coordinator.longPollsWaiting() === 0, 'the abandoned request let go');
  });

  test('the next stage wakes a waiting runner when the first stage succeeds', async () => {
    const { project, runner } = await projectAndRunner();
    await h.api.createPipeline(project.id, { ci_config: 'stages: [build, test]\nfirst:\n  stage: build\n  script: a\nsecond:\n  stage: test\n  script: b\n' });
    const first = (await h.runners.takeBuild(runner.token)) as BuildDetails;
    assert.equal(first.name, 'first');
    const request = await held(runner.token);
    assert.equal((await h.runners.updateBuild(first.id, { token: runner.token, state: 'success' })).status, 200);
    assert.equal(buildName(await request.reply), 'second');
  });

  test('retry and play wake a waiting runner', async () => {
    const { project, runner } = await projectAndRunner();
    await h.api.createPipeline(project.id, { ci_config: `${jobs('flaky')}deploy:\n  script: d\n  when: manual\n` });
    const flaky = await h.runners.takeBuild(runner.token);
    assert.equal(flaky.name, 'flaky');
    await h.runners.updateBuild(flaky.id, { token: runner.token, state: 'failed' });

    const forRetry = await held(runner.token);
    const retried = await h.api.request<{ id: number }>('POST', `/api/v4/projects/${project.id}/jobs/${flaky.id}/retry`);
    assert.equal(retried.status, 201, retried.text);
    const again = await forRetry.reply;
    assert.equal(buildName(again), 'flaky');
    assert.equal((again.json as BuildDetails).id, retried.body.id);
    await h.runners.updateBuild(retried.body.id, { token: runner.token, state: 'success' });

    const jobsList = await h.api.request<{ id: number; name: string; status: string }[]>('GET', `/api/v4/projects/${project.id}/jobs`);
    const deploy = jobsList.body.find((job) => job.name === 'deploy');
    assert.ok(deploy, jobsList.text);
    const forPlay = await held(runner.token);
    const played = await h.api.request('POST', `/api/v4/projects/${project.id}/jobs/${deploy.id}/play`);
    assert.equal(played.status, 200, played.text);
    assert.equal(buildName(await forPlay.reply), 'deploy');
  });

  test('retagging a waiting runner gives it the pending build it may now take', async () => {
    const { project, runner } = await projectAndRunner({ tag_list: 'linux', run_untagged: false });
    await h.api.createPipeline(project.id, { ci_config: taggedJob('on-mac', ['mac']) });
    const request = await held(runner.token);
    await h.admin.set(runner.id, { tag_list: ['linux', 'mac'] });
    assert.equal(buildName(await request.reply), 'on-mac');
  });

  test('assigning a waiting runner to a project with a pending build gives it that build', async () => {
    const { project } = await projectAndRunner();
    await h.api.createPipeline(project.id, { ci_config: jobs('theirs') });
    const { runner: newcomer } = await projectAndRunner();
    const request = await held(newcomer.token);
    assert.equal((await h.admin.assign(project.id, newcomer.id)).status, 201);
    assert.equal(buildName(await request.reply), 'theirs');
  });

  test('one build, ten waiting runners: exactly one gets it, the others keep waiting', async () => {
    const project = await h.api.createProject();
    const first = await h.runners.registerRunner({ token: project.runners_token });
    const tokens = [first.token];
    for (let i = 1; i < 10; i += 1) {
      const runner = await h.runners.registerRunner({ token: project.runners_token });
      tokens.push(runner.token);
    }
    const requests = [];
    for (const token of tokens) requests.push(await held(token));
    await h.api.createPipeline(project.id, { ci_config: jobs('only-one') });
    const winner = await Promise.race(requests.map((request, index) => request.reply.then((reply) => ({ reply, index }))));
    assert.equal(buildName(winner.reply), 'only-one');
    await eventually(() => h.coordinator.longPollsWaiting() === 9, 'the nine others wait again');
    // A second build goes to exactly one of the nine.
    await h.api.createPipeline(project.id, { ci_config: jobs('second-one') });
    await eventually(() => h.coordinator.longPollsWaiting() === 8, 'one more was served');
    h.coordinator.releaseLongPolls();
    const replies = await Promise.all(requests.map((request) => request.reply));
    assert.deepEqual(replies.map((reply) => reply.status).sort(), [201, 201, ...Array<number>(8).fill(204)]);
  });
});

describe('a held request that ends without a build', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ CI_LONG_POLL_SECONDS: '1' });
  });
  after(async () => {
    await h.coordinator.stop();
  });

  test('when its time is up: 204 for a runner, 404 for another User-Agent', async () => {
    const project = await h.api.createProject();
    const runner = await h.runners.registerRunner({ token: project.runners_token });
    const started = Date.now();
    assert.equal((await h.runners.requestBuild(runner.token)).status, 204);
    assert.ok(Date.now() - started >= 900, 'it was held for CI_LONG_POLL_SECONDS');
    const goClient = await h.runners.requestBuild(runner.token, { userAgent: GO_UA });
    assert.equal(goClient.status, 404);
    assert.deepEqual(goClient.json, { message: '404 Not Found' });
  });
});

describe('held requests and the runner or client going away', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ CI_LONG_POLL_SECONDS: '60' });
  });
  after(async () => {
    await h.coordinator.stop();
  });

  const held = (token: string) => heldRequest(h, token);

  test('a client that hangs up frees its wait and takes no build: the next runner gets it', async () => {
    const project = await h.api.createProject();
    const quitter = await h.runners.registerRunner({ token: project.runners_token });
    const request = await held(quitter.token);
    request.abandon();
    await assert.rejects(request.reply);
    await eventually(() => h.coordinator.longPollsWaiting() === 0, 'the wait ended');
    await h.api.createPipeline(project.id, { ci_config: jobs('kept') });
    const jobsList = await h.api.request<{ status: string; runner: unknown }[]>('GET', `/api/v4/projects/${project.id}/jobs`);
    assert.deepEqual(jobsList.body.map((job) => job.status), ['pending']);
    const other = await h.runners.registerRunner({ token: project.runners_token });
    assert.equal(buildName(await h.runners.requestBuild(other.token)), 'kept');
  });

  test('a runner deleted while its request is held gets 403; one paused gets 404', async () => {
    const project = await h.api.createProject();
    const doomed = await h.runners.registerRunner({ token: project.runners_token });
    const paused = await h.runners.registerRunner({ token: project.runners_token });
    const doomedRequest = await held(doomed.token);
    const pausedRequest = await held(paused.token);
    assert.equal((await h.admin.delete(doomed.id)).status, 204);
    assert.equal((await doomedRequest.reply).status, 403);
    await h.admin.set(paused.id, { active: false });
    const pausedReply = await pausedRequest.reply;
    assert.equal(pausedReply.status, 404);
    assert.deepEqual(pausedReply.json, { message: '404 Not Found' });
  });

  test('releaseLongPolls answers every held request "no build" at once, and later ones too (shutdown)', async () => {
    const project = await h.api.createProject();
    const runner = await h.runners.registerRunner({ token: project.runners_token });
    const request = await held(runner.token);
    h.coordinator.releaseLongPolls();
    assert.equal((await request.reply).status, 204);
    assert.equal((await h.runners.requestBuild(runner.token)).status, 204);
    assert.equal(h.coordinator.longPollsWaiting(), 0);
  });
});
