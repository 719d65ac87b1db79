// The runner-protocol.md traps that a server can get wrong, each checked against a real server
// with the protocol-faithful simulator (or its low-level calls where a trap is about one reply).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { UserApi } from './support/userApi.js';
import { RunnerSimulator, type BuildPayload } from './support/runnerSimulator.js';

const FAST = { updateRetryDelayMs: 20, artifactsRetryDelayMs: 10, pollIntervalMs: 20 };

describe('runner protocol traps', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let runner: RunnerSimulator;
  let projectId: number;

  before(async () => {
    coordinator = await startTestCoordinator();
    api = new UserApi(coordinator.url, coordinator.adminToken);
    projectId = (await api.createProject({ name: 'traps' })).id;
    runner = await RunnerSimulator.register(coordinator.url, coordinator.registrationToken, { description: 'traps', runUntagged: true }, FAST);
  });
  after(async () => {
    runner.close();
    await coordinator.stop();
  });

  /** A one-job pipeline, taken by the simulator. */
  async function takeBuild(script = 'echo hi'): Promise<{ build: BuildPayload; pipelineId: number }> {
    const pipeline = await api.createPipeline(projectId, { ci_config: `only_job:\n  script: ${script}\n` });
    return { build: await runner.pollUntilBuild(5_000), pipelineId: pipeline.id };
  }

  test('a build shorter than one tick sends only the final PUT, and the server takes it', async () => {
    const { build, pipelineId } = await takeBuild();
    const result = await runner.runBuild(build, { shorterThanOneTick: true, finalOutput: '$ echo hi\nhi\nJob succeeded\n' });
    assert.deepEqual(result.patches, []);
    assert.deepEqual(result.puts.map((put) => [put.state, put.final, put.status]), [['success', true, 200]]);
    assert.equal(result.finalUpdate.outcome, 'ok');
    const trace = await api.request('GET', `/api/v4/projects/${projectId}/jobs/${build.id}/trace`);
    assert.equal(trace.text, '$ echo hi\nhi\nJob succeeded\n');
    assert.equal((await api.getPipeline(projectId, pipelineId)).status, 'success');
  });

  test('a 1.1-style runner (full-trace PUTs with state running, no PATCH) has its trace replaced each time', async () => {
    const { build } = await takeBuild();
    for (const trace of ['$ make\n', '$ make\ncc main.c\n']) {
      const reply = await runner.putBuild(build.id, { state: 'running', trace });
      assert.equal(reply.status, 200, 'exactly 200: the runner retries 201 and 204');
      assert.equal(reply.body.toString(), 'null', 'no state change');
      const stored = await api.request('GET', `/api/v4/projects/${projectId}/jobs/${build.id}/trace`);
      assert.equal(stored.text, trace);
    }
    const done = await runner.putBuild(build.id, { state: 'failed', trace: '$ make\ncc main.c\nerror\n' });
    assert.equal(done.status, 200);
    assert.equal(done.body.toString(), 'true');
    const again = await runner.putBuild(build.id, { state: 'failed', trace: 'late' });
    assert.equal(again.status, 404, 'a finished build answers 404: the runner stops retrying');
  });

  test('PATCH answers exactly 202; a 416 carries a Range with a dash and never more than the runner sent', async () => {
    const { build } = await takeBuild();
    const first = await runner.patchTrace(build.id, build.token, 0, 'héllo\n');
    assert.equal(first.status, 202);
    assert.equal(first.headers['range'], '0-7', 'byte offsets: é is two bytes');
    assert.equal(first.headers['build-status'], 'running');
    // The runner resends from an offset it thinks is right; the server has less than that.
    const ahead = await runner.patchTrace(build.id, build.token, 20, 'more\n');
    assert.equal(ahead.status, 416);
    const range = String(ahead.headers['range']);
    assert.match(range, /^0-\d+$/);
    assert.ok(Number(range.split('-')[1]) <= 20, 'a Range beyond what the runner sent crashes runners 1.3-1.7');
    const resend = await runner.patchTrace(build.id, build.token, Number(range.split('-')[1]), 'more\n');
    assert.equal(resend.status, 202);
    assert.equal(resend.headers['range'], '0-12');
    await runner.putBuild(build.id, { state: 'success', trace: 'héllo\nmore\n' });
  });

  test('last_update in the register body (runners 1.9+) is accepted', async () => {
    const reply = await runner.sendJson('POST', 'builds/register.json', { token: runner.token, last_update: 'a nice timestamp', info: { name: 'gitlab-ci-multi-runner' } }, { accept: true });
    assert.ok(reply.status === 204 || reply.status === 201, `got ${reply.status}`);
  });

  test('unregistering answers exactly 200 (204 would count as a failure), then the token is dead', async () => {
    const spare = await RunnerSimulator.register(coordinator.url, coordinator.registrationToken, { description: 'spare', runUntagged: true }, FAST);
    try {
      assert.equal(await spare.verify(), true, 'PUT builds/-1 answers 404: alive');
      assert.equal(await spare.unregister(), true);
      assert.equal(await spare.verify(), false, 'PUT builds/-1 answers 403: removed');
    } finally {
      spare.close();
    }
  });
});
