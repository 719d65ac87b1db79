// Secret variables: the user API's CRUD, their place in the build payload, and their values
// masked in traces (gitlab-ci-api-v1.md §2.1 items 7, 9 and 10).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { components } from '../src/generated/api.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { FACTORY_CONFIG } from './support/runnerApi.js';
import { RunnerSimulator, type BuildPayload } from './support/runnerSimulator.js';
import { UserApi } from './support/userApi.js';

type Variable = components['schemas']['Variable'];
type Message = { message: string };

/** A payload's variables as the server sent them, without the runner's own `file` field. */
function sentVariables(build: BuildPayload): { key: string; value: string; public: boolean }[] {
  return build.variables.map((variable) => ({ key: variable.key, value: variable.value, public: variable.public }));
}

describe('secret variables', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  const runners: RunnerSimulator[] = [];
  before(async () => {
    coordinator = await startTestCoordinator();
    api = new UserApi(coordinator.url, coordinator.adminToken);
  });
  after(async () => {
    for (const runner of runners) runner.close();
    await coordinator.stop();
  });

  const variablesPath = (projectId: number, key?: string) => `/api/v4/projects/${projectId}/variables${key === undefined ? '' : `/${key}`}`;

  async function addVariable(projectId: number, key: string, value: string): Promise<void> {
    const reply = await api.request('POST', variablesPath(projectId), { key, value });
    assert.equal(reply.status, 201, reply.text);
  }

  async function projectRunner(runnersToken: string): Promise<RunnerSimulator> {
    const runner = await RunnerSimulator.register(coordinator.url, runnersToken, { runUntagged: true });
    runners.push(runner);
    return runner;
  }

  test('creates, lists by key, reads, updates and deletes variables', async () => {
    const project = await api.createProject();
    const created = await api.request<Variable>('POST', variablesPath(project.id), { key: 'DEPLOY_PASSWORD', value: 'hunter2' });
    assert.equal(created.status, 201);
    assert.equal(created.headers.get('content-type'), 'application/json');
    assert.deepEqual(created.body, { key: 'DEPLOY_PASSWORD', value: 'hunter2' });
    await addVariable(project.id, 'API_KEY', 'abc');
    await addVariable(project.id, 'lower_case_9', '');

    const listed = await api.request<Variable[]>('GET', variablesPath(project.id));
    assert.equal(listed.status, 200);
    assert.deepEqual(listed.body, [
      { key: 'API_KEY', value: 'abc' },
      { key: 'DEPLOY_PASSWORD', value: 'hunter2' },
      { key: 'lower_case_9', value: '' },
    ]);

    const read = await api.request<Variable>('GET', variablesPath(project.id, 'DEPLOY_PASSWORD'));
    assert.equal(read.status, 200);
    assert.deepEqual(read.body, { key: 'DEPLOY_PASSWORD', value: 'hunter2' });

    const updated = await api.request<Variable>('PUT', variablesPath(project.id, 'DEPLOY_PASSWORD'), { value: 'correct-horse' });
    assert.equal(updated.status, 200);
    assert.deepEqual(updated.body, { key: 'DEPLOY_PASSWORD', value: 'correct-horse' });
    assert.deepEqual((await api.request<Variable>('GET', variablesPath(project.id, 'DEPLOY_PASSWORD'))).body, updated.body);

    const deleted = await api.request('DELETE', variablesPath(project.id, 'DEPLOY_PASSWORD'));
    assert.equal(deleted.status, 204);
    assert.equal(deleted.text, '');
    assert.equal((await api.request('GET', variablesPath(project.id, 'DEPLOY_PASSWORD'))).status, 404);
    assert.deepEqual((await api.request<Variable[]>('GET', variablesPath(project.id))).body.map((v) => v.key), ['API_KEY', 'lower_case_9']);
  });

  test('a key is unique per project, and keys are case-sensitive', async () => {
    const project = await api.createProject();
    const other = await api.createProject();
    await addVariable(project.id, 'DEPLOY_PASSWORD', 'one');
    const duplicate = await api.request<Message>('POST', variablesPath(project.id), { key: 'DEPLOY_PASSWORD', value: 'two' });
    assert.equal(duplicate.status, 400);
    assert.deepEqual(duplicate.body, { message: '400 Bad request - Variable key DEPLOY_PASSWORD has already been taken' });
    assert.deepEqual((await api.request<Variable>('GET', variablesPath(project.id, 'DEPLOY_PASSWORD'))).body.value, 'one');
    await addVariable(project.id, 'deploy_password', 'three');
    await addVariable(other.id, 'DEPLOY_PASSWORD', 'four');
    assert.equal((await api.request<Variable>('GET', variablesPath(other.id, 'DEPLOY_PASSWORD'))).body.value, 'four');
  });

  test('a key outside [A-Za-z0-9_]+ and malformed bodies get 400 with a JSON message', async () => {
    const project = await api.createProject();
    for (const key of ['BAD-KEY', 'has space', '', 'ÄÖ', 'a.b', 'x'.repeat(256)]) {
      const reply = await api.request<Message>('POST', variablesPath(project.id), { key, value: 'v' });
      assert.equal(reply.status, 400, `key ${JSON.stringify(key)}: ${reply.text}`);
      assert.equal(typeof reply.body.message, 'string');
    }
    for (const body of [{ key: 'K' }, { value: 'v' }, { key: 'K', value: 5 }, { key: 'K', value: 'v', extra: 1 }]) {
      const reply = await api.request<Message>('POST', variablesPath(project.id), body);
      assert.equal(reply.status, 400, `${JSON.stringify(body)}: ${reply.text}`);
      assert.equal(typeof reply.body.message, 'string');
    }
    await addVariable(project.id, 'K', 'v');
    assert.equal((await api.request('PUT', variablesPath(project.id, 'K'), { value: 1 })).status, 400);
    assert.equal((await api.request('PUT', variablesPath(project.id, 'K'), {})).status, 400);
    for (const method of ['GET', 'PUT', 'DELETE']) {
      const reply = await api.request<Message>(method, variablesPath(project.id, 'BAD-KEY'), method === 'PUT' ? { value: 'v' } : undefined);
      assert.equal(reply.status, 400, `${method}: ${reply.text}`);
    }
    assert.deepEqual((await api.request<Variable[]>('GET', variablesPath(project.id))).body, [{ key: 'K', value: 'v' }]);
  });

  test('unknown keys and projects get 404; no PRIVATE-TOKEN gets 401', async () => {
    const project = await api.createProject();
    for (const [method, body] of [['GET', undefined], ['PUT', { value: 'v' }], ['DELETE', undefined]] as const) {
      const reply = await api.request<Message>(method, variablesPath(project.id, 'NOPE'), body);
      assert.equal(reply.status, 404, method);
      assert.deepEqual(reply.body, { message: '404 Not Found' });
    }
    assert.equal((await api.request('GET', variablesPath(999999))).status, 404);
    assert.equal((await api.request('POST', variablesPath(999999), { key: 'K', value: 'v' })).status, 404);
    assert.equal((await api.request('GET', variablesPath(999999, 'K'))).status, 404);
    for (const [method, path, body] of [
      ['GET', variablesPath(project.id), undefined],
      ['POST', variablesPath(project.id), { key: 'K', value: 'v' }],
      ['GET', variablesPath(project.id, 'K'), undefined],
      ['PUT', variablesPath(project.id, 'K'), { value: 'v' }],
      ['DELETE', variablesPath(project.id, 'K'), undefined],
    ] as const) {
      const reply = await api.request<Message>(method, path, body, { 'PRIVATE-TOKEN': 'wrong' });
      assert.equal(reply.status, 401, `${method} ${path}`);
      assert.deepEqual(reply.body, { message: '401 Unauthorized' });
    }
    assert.deepEqual((await api.request('GET', variablesPath(project.id))).body, []);
  });

  test('reach the payload as secret, after the YAML variables and before the request variables', async () => {
    const project = await api.createProject({ ci_config: FACTORY_CONFIG });
    await addVariable(project.id, 'SECRET_KEY', 'secret_value');
    await api.createPipeline(project.id, { ci_config: FACTORY_CONFIG, variables: [{ key: 'REQUEST_KEY', value: 'request_value' }] });
    // Read when the runner takes the build, as GitLab did: later changes count.
    await addVariable(project.id, 'ANOTHER_SECRET', 'added after the pipeline');
    assert.equal((await api.request('PUT', variablesPath(project.id, 'SECRET_KEY'), { value: 'changed_value' })).status, 200);

    const build = await (await projectRunner(project.runners_token)).requestBuild();
    assert.ok(build);
    const variables = sentVariables(build);
    assert.deepEqual(variables.slice(-4), [
      { key: 'DB_NAME', value: 'postgres', public: true },
      { key: 'ANOTHER_SECRET', value: 'added after the pipeline', public: false },
      { key: 'SECRET_KEY', value: 'changed_value', public: false },
      { key: 'REQUEST_KEY', value: 'request_value', public: false },
    ]);
    assert.equal(variables.find((v) => v.key === 'CI_BUILD_TRIGGERED'), undefined, 'a pipeline made through the API is not triggered');
  });

  test('values are masked in traces sent by PATCH and by the final PUT, short values are not', async () => {
    const project = await api.createProject({ ci_config: FACTORY_CONFIG });
    await addVariable(project.id, 'DEPLOY_PASSWORD', 'correct-horse-battery');
    await addVariable(project.id, 'SHORT', 'prod7'); // under the 8-character minimum: left visible
    await api.createPipeline(project.id, { ci_config: FACTORY_CONFIG, variables: [{ key: 'REQUEST_SECRET', value: 'request-secret-value' }] });
    const runner = await projectRunner(project.runners_token);
    const build = await runner.requestBuild();
    assert.ok(build);
    const tracePath = `/api/v4/projects/${project.id}/jobs/${build.id}/trace`;

    const chunk = 'login correct-horse-battery on prod7\n';
    const patched = await runner.patchTrace(build.id, build.token, 0, chunk);
    assert.equal(patched.status, 202);
    assert.equal(patched.range, `0-${Buffer.byteLength(chunk)}`, 'masking keeps the length');
    const second = 'token request-secret-value and correct-horse-battery again\n';
    assert.equal((await runner.patchTrace(build.id, build.token, Buffer.byteLength(chunk), second)).status, 202);
    const afterPatches = await api.request<string>('GET', tracePath);
    assert.equal(
      afterPatches.text,
      `login ${'x'.repeat(21)} on prod7\ntoken ${'x'.repeat(20)} and ${'x'.repeat(21)} again\n`,
    );

    const full = `${chunk}${second}done with correct-horse-battery\n`;
    assert.equal((await runner.putBuild(build.id, { state: 'success', trace: full })).status, 200);
    const afterPut = await api.request<string>('GET', tracePath);
    assert.equal(afterPut.text, full.replaceAll('correct-horse-battery', 'x'.repeat(21)).replaceAll('request-secret-value', 'x'.repeat(20)));
    assert.ok(afterPut.text.includes('prod7'));
  });

  test('a secret that contains another is masked whole', async () => {
    const project = await api.createProject({ ci_config: FACTORY_CONFIG });
    await addVariable(project.id, 'SHORTER', 'password1');
    await addVariable(project.id, 'LONGER', 'password1234');
    await api.createPipeline(project.id, { ci_config: FACTORY_CONFIG });
    const runner = await projectRunner(project.runners_token);
    const build = await runner.requestBuild();
    assert.ok(build);
    assert.equal((await runner.patchTrace(build.id, build.token, 0, 'a password1234 b password1 c')).status, 202);
    const trace = await api.request<string>('GET', `/api/v4/projects/${project.id}/jobs/${build.id}/trace`);
    assert.equal(trace.text, `a ${'x'.repeat(12)} b ${'x'.repeat(9)} c`);
  });
});
