// PUT builds/:id: GitLab 8.15's builds_spec "PUT /builds/:id" (gitlab-ci-api-v1.md §8.2, U1–U3) and
// the derived checks X7–X8 of §8.9, against a real server.
//
// Erasing a build, canceling one and deleting a project have no API here (yet): those states are
// written to the database directly, each marked where it happens.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FACTORY_CONFIG, factoryJob, startWorld, storedTrace, type RawReply, type World } from './support/runnerApi.js';

describe('PUT /builds/:id', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(() => world.coordinator.stop());

  const buildRow = (id: number) => world.coordinator.db('builds').where({ id }).first();

  /** GitLab's PUT fixture: a build of project P running on its runner R, with the trace `BUILD TRACE`. */
  async function runningBuild(ciConfig = FACTORY_CONFIG) {
    const project = await world.api.createProject();
    const pipeline = await world.api.createPipeline(project.id, { ci_config: ciConfig });
    const runner = await world.runners.registerRunner({ token: project.runners_token, tag_list: 'mysql, ruby' });
    const build = await world.runners.takeBuild(runner.token);
    assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token, trace: 'BUILD TRACE' }), null);
    return { project, pipeline, runner, build };
  }

  function assertUpdated(reply: RawReply, body: boolean | null): void {
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.equal(reply.text, JSON.stringify(body));
  }

  function assertBuildNotFound(reply: RawReply, label: string): void {
    assert.equal(reply.status, 404, `${label}: ${reply.text}`);
    assert.equal(reply.headers['content-type'], 'application/json', label);
    assert.deepEqual(reply.json, { message: '404 Not found' }, label);
  }

  function assertForbidden(reply: RawReply, message: string): void {
    assert.equal(reply.status, 403, reply.text);
    assert.equal(reply.headers['content-type'], 'application/json');
    assert.deepEqual(reply.json, { message });
  }

  test('U1: updates a running build: 200 with null when no state is given', async () => {
    const { runner, build } = await runningBuild();
    assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token }), null);
    assert.equal((await buildRow(build.id)).status, 'running');
  });

  test('U2: keeps the trace when no trace is given', async () => {
    const { runner, build } = await runningBuild();
    assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token, state: 'running' }), null);
    assert.equal(await storedTrace(world.coordinator.db, build.id), 'BUILD TRACE');
    assert.equal(Number((await buildRow(build.id)).trace_length), 11);
  });

  test('U3: an erased build answers 403', async () => {
    const { runner, build } = await runningBuild();
    // No erase API yet: erase the build in the database.
    await world.coordinator.db('builds').where({ id: build.id }).update({ erased_at: new Date().toISOString() });
    assertForbidden(await world.runners.updateBuild(build.id, { token: runner.token, state: 'success' }), '403 Forbidden  - Build has been erased!');
    assert.equal((await buildRow(build.id)).status, 'running');
  });

  test("a build whose project is being deleted answers 403, before the erased check", async () => {
    const { project, runner, build } = await runningBuild();
    // No project deletion API yet: flag the project as a deletion would, and erase the build too.
    await world.coordinator.db('projects').where({ id: project.id }).update({ pending_delete: true });
    await world.coordinator.db('builds').where({ id: build.id }).update({ erased_at: new Date().toISOString() });
    assertForbidden(await world.runners.updateBuild(build.id, { token: runner.token, trace: 'x' }), '403 Forbidden  - Project has been deleted!');
    assert.equal(await storedTrace(world.coordinator.db, build.id), 'BUILD TRACE');
  });

  test('X7: state=success finishes the build, answers true, advances the pipeline; then the build is gone for PUT', async () => {
    const ciConfig = `stages: [test, deploy]\n${factoryJob('spinach')}${factoryJob('deploy', ['stage: deploy'])}`;
    const { project, pipeline, runner, build } = await runningBuild(ciConfig);
    assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token, state: 'success' }), true);
    const row = await buildRow(build.id);
    assert.equal(row.status, 'success');
    assert.ok(Date.parse(row.finished_at) >= Date.parse(row.started_at));
    const jobs = await world.api.listJobs(project.id, pipeline.id);
    assert.equal(jobs.find((job) => job.name === 'deploy')?.status, 'pending');
    assertBuildNotFound(await world.runners.updateBuild(build.id, { token: runner.token, state: 'success' }), 'after success');
    const deploy = await world.runners.takeBuild(runner.token);
    assertUpdated(await world.runners.updateBuild(deploy.id, { token: runner.token, state: 'success' }), true);
    assert.equal((await world.api.getPipeline(project.id, pipeline.id)).status, 'success');
  });

  test('X7: state=failed fails the build and the pipeline, skipping later on_success stages', async () => {
    const ciConfig = `stages: [test, deploy]\n${factoryJob('spinach')}${factoryJob('deploy', ['stage: deploy'])}`;
    const { project, pipeline, runner, build } = await runningBuild(ciConfig);
    assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token, state: 'failed', trace: 'Job failed\n' }), true);
    const row = await buildRow(build.id);
    assert.equal(row.status, 'failed');
    assert.notEqual(row.finished_at, null);
    assert.equal(await storedTrace(world.coordinator.db, build.id), 'Job failed\n');
    const jobs = await world.api.listJobs(project.id, pipeline.id);
    assert.equal(jobs.find((job) => job.name === 'deploy')?.status, 'skipped');
    assert.equal((await world.api.getPipeline(project.id, pipeline.id)).status, 'failed');
  });

  test('X7: any other state changes nothing', async () => {
    const { runner, build } = await runningBuild();
    for (const state of ['running', 'canceled', 'pending', 'skipped', 'SUCCESS', '']) {
      assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token, state }), null);
    }
    const row = await buildRow(build.id);
    assert.equal(row.status, 'running');
    assert.equal(row.finished_at, null);
  });

  test('X7: a trace replaces the stored one exactly, with the build and runners tokens masked', async () => {
    const { project, runner, build } = await runningBuild();
    const text = `clone ${build.token}@host\nrunners ${project.runners_token}\nhéllo ✓\n`;
    assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token, trace: text }), null);
    const expected = text.replace(build.token, 'x'.repeat(build.token.length)).replace(project.runners_token, 'x'.repeat(project.runners_token.length));
    assert.equal(await storedTrace(world.coordinator.db, build.id), expected);
    assert.equal(Number((await buildRow(build.id)).trace_length), Buffer.byteLength(expected));
    assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token, trace: '' }), null);
    assert.equal(await storedTrace(world.coordinator.db, build.id), '');
    assert.equal(Number((await buildRow(build.id)).trace_length), 0);
  });

  test('X8: another runner\'s, a pending, a canceled or an unknown build answers 404 "Not found"', async () => {
    const ciConfig = `${factoryJob('spinach')}${factoryJob('waiting')}`;
    const { project, pipeline, runner, build } = await runningBuild(ciConfig);
    const other = await world.runners.registerRunner({ token: project.runners_token });
    assertBuildNotFound(await world.runners.updateBuild(build.id, { token: other.token, state: 'success' }), "another runner's build");
    const waiting = (await world.api.listJobs(project.id, pipeline.id)).find((job) => job.name === 'waiting');
    assert.equal(waiting?.status, 'pending');
    assertBuildNotFound(await world.runners.updateBuild(waiting?.id ?? 0, { token: runner.token, state: 'success' }), 'pending build');
    // No cancel API yet: cancel the running build in the database, as a user's cancel would.
    await world.coordinator.db('builds').where({ id: build.id }).update({ status: 'canceled', finished_at: new Date().toISOString() });
    assertBuildNotFound(await world.runners.updateBuild(build.id, { token: runner.token, state: 'success', trace: 'late' }), 'canceled build');
    assert.equal((await buildRow(build.id)).status, 'canceled');
    assert.equal(await storedTrace(world.coordinator.db, build.id), 'BUILD TRACE');
    assertBuildNotFound(await world.runners.updateBuild(999999, { token: runner.token }), 'unknown id');
  });

  test("X8: the runner's verify, PUT builds/-1: 404 while the runner exists, 403 for an unknown token", async () => {
    const runner = await world.runners.registerRunner({ token: world.coordinator.registrationToken });
    assertBuildNotFound(await world.runners.updateBuild(-1, { token: runner.token }, '/ci/api/v1/builds/-1'), 'verify');
    assertForbidden(await world.runners.updateBuild(-1, { token: 'removed-runner' }, '/ci/api/v1/builds/-1'), '403 Forbidden');
  });

  test('a bad runner token answers 403 before anything about the build', async () => {
    const { build } = await runningBuild();
    assertForbidden(await world.runners.updateBuild(build.id, { token: 'wrong', state: 'success' }), '403 Forbidden');
    assertForbidden(await world.runners.updateBuild(build.id, { token: '' }), '403 Forbidden');
    assert.equal((await buildRow(build.id)).status, 'running');
  });

  test('X6: both builds/:id and builds/:id.json', async () => {
    const { runner, build } = await runningBuild();
    assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token, trace: 'plain' }, `/ci/api/v1/builds/${build.id}`), null);
    assert.equal(await storedTrace(world.coordinator.db, build.id), 'plain');
    assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token, state: 'success' }, `/ci/api/v1/builds/${build.id}.json`), true);
  });

  test('records the runner contact and version info', async () => {
    const { runner, build } = await runningBuild();
    // The build request recorded a contact moments ago; make it stale so this PUT refreshes it.
    const stale = new Date(Date.now() - 120_000).toISOString();
    await world.coordinator.db('runners').where({ id: runner.id }).update({ contacted_at: stale });
    assertUpdated(await world.runners.updateBuild(build.id, { token: runner.token, info: { version: '1.11.5', executor: 'shell' } }), null);
    const row = await world.coordinator.db('runners').where({ id: runner.id }).first();
    assert.ok(row.contacted_at > stale);
    assert.equal(row.version, '1.11.5');
  });

  test('malformed requests answer 400 with a JSON message, never 500', async () => {
    const { runner, build } = await runningBuild();
    const cases: [string, unknown][] = [
      ['/ci/api/v1/builds/abc', { token: runner.token }],
      ['/ci/api/v1/builds/abc.json', { token: runner.token }],
      ['/ci/api/v1/builds/1.5', { token: runner.token }],
      [`/ci/api/v1/builds/${build.id}.json`, {}],
      [`/ci/api/v1/builds/${build.id}.json`, { token: runner.token, trace: 5 }],
      [`/ci/api/v1/builds/${build.id}.json`, { token: runner.token, state: ['success'] }],
      [`/ci/api/v1/builds/${build.id}.json`, '{"token": '],
    ];
    for (const [path, body] of cases) {
      const reply = await world.runners.request('PUT', path, body);
      assert.equal(reply.status, 400, `${path} ${JSON.stringify(body)}: ${reply.text}`);
      assert.equal(reply.headers['content-type'], 'application/json');
      assert.equal(typeof (reply.json as { message: unknown }).message, 'string');
    }
    assert.equal((await buildRow(build.id)).status, 'running');
  });

  test('ids beyond the safe integer range answer 4xx, not 500', async () => {
    const runner = await world.runners.registerRunner({ token: world.coordinator.registrationToken });
    for (const id of ['9007199254740993', '9223372036854775807', '99999999999999999999999', '-99999999999999999999']) {
      const reply = await world.runners.updateBuild(id, { token: runner.token });
      assert.ok(reply.status === 404 || reply.status === 400, `${id}: ${reply.status} ${reply.text}`);
      assert.equal(reply.headers['content-type'], 'application/json');
    }
  });
});
