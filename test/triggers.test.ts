// Triggers: the user API's trigger tokens, POST trigger/pipeline (JSON and form), GitLab 8.15's
// POST /ci/api/v1/projects/:id/refs/:ref/trigger (gitlab-ci-api-v1.md E10) and R17 (§8.1).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import type { components } from '../src/generated/api.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { FACTORY_CONFIG, PIPELINE_SHA } from './support/runnerApi.js';
import { ManualClock } from './support/runningBuilds.js';
import { RunnerSimulator, type BuildPayload } from './support/runnerSimulator.js';
import { UserApi, type ApiReply } from './support/userApi.js';

type Schemas = components['schemas'];
type Message = { message: string; errors?: string[] };

function sentVariables(build: BuildPayload): { key: string; value: string; public: boolean }[] {
  return build.variables.map((variable) => ({ key: variable.key, value: variable.value, public: variable.public }));
}

describe('triggers', () => {
  const clock = new ManualClock();
  let coordinator: TestCoordinator;
  let api: UserApi;
  const runners: RunnerSimulator[] = [];
  before(async () => {
    coordinator = await startTestCoordinator({}, clock);
    api = new UserApi(coordinator.url, coordinator.adminToken);
  });
  after(async () => {
    for (const runner of runners) runner.close();
    await coordinator.stop();
  });

  async function createTrigger(projectId: number, description?: string): Promise<Schemas['Trigger']> {
    const reply = await api.request<Schemas['Trigger']>('POST', `/api/v4/projects/${projectId}/triggers`, description === undefined ? undefined : { description });
    assert.equal(reply.status, 201, reply.text);
    return reply.body;
  }

  /** A project with the factory's config, a pipeline for master (so the ref has a commit) and a trigger. */
  async function triggerableProject(fields: Partial<Schemas['NewProject']> = {}) {
    const project = await api.createProject({ ci_config: FACTORY_CONFIG, ...fields });
    const seed = await api.createPipeline(project.id, { ci_config: FACTORY_CONFIG });
    const trigger = await createTrigger(project.id, 'deploys');
    return { project, seed, trigger };
  }

  /** A request without PRIVATE-TOKEN: the trigger token is the only credential. */
  async function post(path: string, body: unknown, contentType = 'application/json'): Promise<ApiReply<unknown>> {
    const encoded = contentType === 'application/json' ? JSON.stringify(body) : String(body);
    const response = await fetch(`${coordinator.url}${path}`, { method: 'POST', headers: { 'Content-Type': contentType }, body: encoded });
    const text = await response.text();
    const json = response.headers.get('content-type') === 'application/json' && text ? (JSON.parse(text) as unknown) : text;
    return { status: response.status, headers: response.headers, body: json, text };
  }

  /** Every pending build of the project, taken by one fresh specific runner, in queue order. */
  async function takeBuilds(runnersToken: string, count: number): Promise<BuildPayload[]> {
    const runner = await RunnerSimulator.register(coordinator.url, runnersToken, { runUntagged: true });
    runners.push(runner);
    const builds: BuildPayload[] = [];
    for (let i = 0; i < count; i++) {
      const build = await runner.requestBuild();
      assert.ok(build, `build ${i + 1} of ${count}`);
      builds.push(build);
    }
    return builds;
  }

  test('creates, lists by id and deletes trigger tokens', async () => {
    const project = await api.createProject();
    const first = await createTrigger(project.id, 'nightly');
    assert.match(first.token, /^[0-9a-f]{30}$/);
    assert.equal(first.description, 'nightly');
    assert.equal(first.created_at, clock.now().toISOString());
    const second = await createTrigger(project.id);
    assert.equal(second.description, null);
    assert.notEqual(second.token, first.token);
    const listed = await api.request<Schemas['Trigger'][]>('GET', `/api/v4/projects/${project.id}/triggers`);
    assert.equal(listed.status, 200);
    // Shown whole once, when created; listings show the first 4 characters (all that is kept besides a digest).
    const listedAs = (trigger: Schemas['Trigger']) => ({ ...trigger, token: trigger.token.slice(0, 4) });
    assert.deepEqual(listed.body, [listedAs(first), listedAs(second)]);

    const deleted = await api.request('DELETE', `/api/v4/projects/${project.id}/triggers/${first.id}`);
    assert.equal(deleted.status, 204);
    assert.equal(deleted.text, '');
    assert.deepEqual((await api.request('GET', `/api/v4/projects/${project.id}/triggers`)).body, [listedAs(second)]);
    assert.equal((await api.request('DELETE', `/api/v4/projects/${project.id}/triggers/${first.id}`)).status, 404);
  });

  test('trigger administration: 404 for unknown ids and other projects, 400 for bad input, 401 without PRIVATE-TOKEN', async () => {
    const project = await api.createProject();
    const other = await api.createProject();
    const trigger = await createTrigger(project.id);
    const foreign = await api.request<Message>('DELETE', `/api/v4/projects/${other.id}/triggers/${trigger.id}`);
    assert.equal(foreign.status, 404);
    assert.deepEqual(foreign.body, { message: '404 Not Found' });
    assert.equal((await api.request('GET', '/api/v4/projects/999999/triggers')).status, 404);
    assert.equal((await api.request('POST', '/api/v4/projects/999999/triggers', {})).status, 404);
    assert.equal((await api.request('DELETE', `/api/v4/projects/${project.id}/triggers/abc`)).status, 400);
    assert.equal((await api.request('POST', `/api/v4/projects/${project.id}/triggers`, { description: 5 })).status, 400);
    assert.equal((await api.request('POST', `/api/v4/projects/${project.id}/triggers`, { token: 'chosen' })).status, 400);
    for (const [method, path] of [
      ['GET', `/api/v4/projects/${project.id}/triggers`],
      ['POST', `/api/v4/projects/${project.id}/triggers`],
      ['DELETE', `/api/v4/projects/${project.id}/triggers/${trigger.id}`],
    ] as const) {
      const reply = await api.request<Message>(method, path, undefined, { 'PRIVATE-TOKEN': 'wrong' });
      assert.equal(reply.status, 401, `${method} ${path}`);
    }
    assert.equal((await api.request<Schemas['Trigger'][]>('GET', `/api/v4/projects/${project.id}/triggers`)).body.length, 1);
  });

  test('trigger/pipeline with JSON: a triggered pipeline at the ref\'s newest commit, variables secret', async () => {
    const { project, seed, trigger } = await triggerableProject();
    await api.request('POST', `/api/v4/projects/${project.id}/variables`, { key: 'SECRET_KEY', value: 'secret_value' });
    const reply = await post(`/api/v4/projects/${project.id}/trigger/pipeline`, {
      token: trigger.token,
      ref: 'master',
      variables: { TRIGGER_KEY_1: 'TRIGGER_VALUE_1', TRIGGER_KEY_2: 'TRIGGER_VALUE_2' },
    });
    assert.equal(reply.status, 201, reply.text);
    const pipeline = reply.body as Schemas['Pipeline'];
    assert.equal(pipeline.project_id, project.id);
    assert.equal(pipeline.ref, 'master');
    assert.equal(pipeline.sha, seed.sha);
    assert.equal(pipeline.before_sha, '0000000000000000000000000000000000000000');
    assert.equal(pipeline.tag, false);
    assert.equal(pipeline.status, 'pending');
    assert.ok(pipeline.id > seed.id);
    assert.deepEqual(await api.getPipeline(project.id, pipeline.id), pipeline);

    const [seeded, triggered] = await takeBuilds(project.runners_token, 2);
    assert.equal(seeded!.variables.find((v) => v.key === 'CI_BUILD_TRIGGERED'), undefined);
    const variables = sentVariables(triggered!);
    // §2.1: CI_BUILD_TRIGGERED among the conditional build variables, before the project's.
    const keys = variables.map((v) => v.key);
    assert.deepEqual(keys.slice(keys.indexOf('CI_SERVER_REVISION'), keys.indexOf('CI_PROJECT_ID') + 1), [
      'CI_SERVER_REVISION',
      'CI_BUILD_TRIGGERED',
      'CI_PROJECT_ID',
    ]);
    assert.deepEqual(variables.find((v) => v.key === 'CI_BUILD_TRIGGERED'), { key: 'CI_BUILD_TRIGGERED', value: 'true', public: true });
    assert.deepEqual(variables.slice(-4), [
      { key: 'DB_NAME', value: 'postgres', public: true },
      { key: 'SECRET_KEY', value: 'secret_value', public: false },
      { key: 'TRIGGER_KEY_1', value: 'TRIGGER_VALUE_1', public: false },
      { key: 'TRIGGER_KEY_2', value: 'TRIGGER_VALUE_2', public: false },
    ]);
  });

  test('trigger/pipeline with a urlencoded form and variables[KEY]=value; a tag ref stays a tag', async () => {
    const project = await api.createProject({ ci_config: FACTORY_CONFIG });
    await api.createPipeline(project.id, { ci_config: FACTORY_CONFIG, ref: 'v1.0', tag: true });
    const trigger = await createTrigger(project.id);
    const form = new URLSearchParams({ token: trigger.token, ref: 'v1.0', 'variables[DEPLOY_TARGET]': 'staging', 'variables[EMPTY]': '' });
    const reply = await post(`/api/v4/projects/${project.id}/trigger/pipeline`, form, 'application/x-www-form-urlencoded');
    assert.equal(reply.status, 201, reply.text);
    assert.equal((reply.body as Schemas['Pipeline']).tag, true);
    const [, triggered] = await takeBuilds(project.runners_token, 2);
    const variables = sentVariables(triggered!);
    const keys = variables.map((v) => v.key);
    assert.deepEqual(keys.slice(keys.indexOf('CI_BUILD_TAG'), keys.indexOf('CI_BUILD_TAG') + 2), ['CI_BUILD_TAG', 'CI_BUILD_TRIGGERED']);
    assert.deepEqual(variables.slice(-2), [
      { key: 'DEPLOY_TARGET', value: 'staging', public: false },
      { key: 'EMPTY', value: '', public: false },
    ]);
  });

  test('trigger/pipeline refuses: unknown token 404, another project\'s token 401, bad variables 400', async () => {
    const { project } = await triggerableProject();
    const other = await triggerableProject();
    const path = `/api/v4/projects/${project.id}/trigger/pipeline`;
    const expect = async (body: unknown, status: number, message?: string) => {
      const reply = await post(path, body);
      assert.equal(reply.status, status, `${JSON.stringify(body)}: ${reply.text}`);
      assert.equal(reply.headers.get('content-type'), 'application/json');
      if (message !== undefined) assert.equal((reply.body as Message).message, message);
    };
    await expect({ token: 'not-a-trigger-token', ref: 'master' }, 404, '404 Not Found');
    await expect({ token: other.trigger.token, ref: 'master' }, 401, '401 Unauthorized');
    const token = (await createTrigger(project.id)).token;
    await expect({ token, ref: 'master', variables: 'DEPLOY=1' }, 400, 'variables needs to be a hash');
    await expect({ token, ref: 'master', variables: ['a'] }, 400, 'variables needs to be a hash');
    await expect({ token, ref: 'master', variables: { DEPLOY: 1 } }, 400, 'variables needs to be a map of key-valued strings');
    await expect({ token, ref: 'master', variables: { DEPLOY: { nested: 'x' } } }, 400, 'variables needs to be a map of key-valued strings');
    await expect({ token, ref: 'master', variables: { 'BAD-KEY': 'x' } }, 400, 'variables key "BAD-KEY" must match [A-Za-z0-9_]+');
    await expect({ ref: 'master' }, 400, '400 (Bad request) "token" not given');
    await expect({ token }, 400, '400 (Bad request) "ref" not given');
    await expect({ token, ref: 'no-such-branch' }, 400, 'No pipeline for ref no-such-branch yet: create one through the API first');
    const unknownProject = await post('/api/v4/projects/999999/trigger/pipeline', { token, ref: 'master' });
    assert.equal(unknownProject.status, 404);
    const form = new URLSearchParams({ token, ref: 'master', 'variables[A][B]': 'x' });
    const nested = await post(path, form, 'application/x-www-form-urlencoded');
    assert.equal(nested.status, 400);
    assert.equal((nested.body as Message).message, 'variables needs to be a map of key-valued strings');
    // Nothing was made by any of these.
    const count = await coordinator.db('pipelines').where({ project_id: project.id }).count({ n: '*' });
    assert.equal(Number(count[0]?.n), 1);
  });

  test('a deleted trigger\'s token no longer works', async () => {
    const { project, trigger } = await triggerableProject();
    assert.equal((await api.request('DELETE', `/api/v4/projects/${project.id}/triggers/${trigger.id}`)).status, 204);
    const reply = await post(`/api/v4/projects/${project.id}/trigger/pipeline`, { token: trigger.token, ref: 'master' });
    assert.equal(reply.status, 404);
  });

  test('trigger/pipeline without a usable config: 400 with the reasons', async () => {
    // The seed pipeline brought its own config; the project has none and its repository is remote.
    const project = await api.createProject();
    await api.createPipeline(project.id, { ci_config: FACTORY_CONFIG });
    const trigger = await createTrigger(project.id);
    const reply = await post(`/api/v4/projects/${project.id}/trigger/pipeline`, { token: trigger.token, ref: 'master' });
    assert.equal(reply.status, 400, reply.text);
    const body = reply.body as Message;
    assert.equal(body.message, 'No pipeline created');
    assert.ok(body.errors && body.errors.length > 0, reply.text);
  });

  test('with no pipeline for the ref yet, a local repository tells its head and gives the config', async () => {
    const repo = fs.mkdtempSync(path.join(os.tmpdir(), 'trigger-test-repo-'));
    try {
      const git = (...args: string[]) =>
        execFileSync('git', args, {
          cwd: repo,
          encoding: 'utf8',
          env: { PATH: process.env.PATH, HOME: repo, GIT_CONFIG_NOSYSTEM: '1', GIT_AUTHOR_NAME: 'T', GIT_AUTHOR_EMAIL: 't@example.com', GIT_COMMITTER_NAME: 'T', GIT_COMMITTER_EMAIL: 't@example.com' },
        }).trim();
      git('init', '--quiet', '--initial-branch=main');
      fs.writeFileSync(path.join(repo, '.gitlab-ci.yml'), 'from_repository:\n  script: make\n');
      git('add', '.gitlab-ci.yml');
      git('commit', '--quiet', '-m', 'ci');
      const head = git('rev-parse', 'HEAD');
      const project = await api.createProject({ repo_url: repo });
      const trigger = await createTrigger(project.id);
      const reply = await post(`/api/v4/projects/${project.id}/trigger/pipeline`, { token: trigger.token, ref: 'main' });
      assert.equal(reply.status, 201, reply.text);
      assert.equal((reply.body as Schemas['Pipeline']).sha, head);
      const [build] = await takeBuilds(project.runners_token, 1);
      assert.equal(build!.name, 'from_repository');
      const unknown = await post(`/api/v4/projects/${project.id}/trigger/pipeline`, { token: trigger.token, ref: 'nope' });
      assert.equal(unknown.status, 400);
      assert.equal((unknown.body as Message).message, `No branch or tag nope in ${repo}, and no pipeline for it yet`);
    } finally {
      fs.rmSync(repo, { recursive: true, force: true });
    }
  });

  test('trigger values are masked in traces sent by PATCH and by the final PUT', async () => {
    const { project, trigger } = await triggerableProject();
    const reply = await post(`/api/v4/projects/${project.id}/trigger/pipeline`, {
      token: trigger.token,
      ref: 'master',
      variables: { DEPLOY_TOKEN: 'trigger-secret-42', SHORT: 'dev' },
    });
    assert.equal(reply.status, 201);
    const runner = await RunnerSimulator.register(coordinator.url, project.runners_token, { runUntagged: true });
    runners.push(runner);
    assert.ok(await runner.requestBuild()); // the seed pipeline's build
    const build = await runner.requestBuild();
    assert.ok(build);
    const tracePath = `/api/v4/projects/${project.id}/jobs/${build.id}/trace`;
    const line = 'deploying to dev with trigger-secret-42\n';
    assert.equal((await runner.patchTrace(build.id, build.token, 0, line)).status, 202);
    const masked = line.replace('trigger-secret-42', 'x'.repeat(17));
    assert.equal((await api.request('GET', tracePath)).text, masked);
    assert.equal((await runner.putBuild(build.id, { state: 'success', trace: `${line}trigger-secret-42 done\n` })).status, 200);
    assert.equal((await api.request('GET', tracePath)).text, `${masked}${'x'.repeat(17)} done\n`);
  });

  describe('POST /ci/api/v1/projects/:id/refs/:ref/trigger (E10)', () => {
    const legacyPath = (projectId: number, ref: string, suffix = '') => `/ci/api/v1/projects/${projectId}/refs/${ref}/trigger${suffix}`;

    test('R17: triggered builds get CI_BUILD_TRIGGERED, the trigger and secret variables as secret', async () => {
      const { project, trigger } = await triggerableProject();
      await api.request('POST', `/api/v4/projects/${project.id}/variables`, { key: 'SECRET_KEY', value: 'secret_value' });
      const variables = { TRIGGER_KEY_1: 'TRIGGER_VALUE_1', TRIGGER_KEY_2: 'TRIGGER_VALUE_2' };
      const reply = await post(legacyPath(project.id, 'master'), { token: trigger.token, variables });
      assert.equal(reply.status, 201, reply.text);
      const body = reply.body as Schemas['TriggerRequest'];
      assert.deepEqual(body.variables, variables);
      assert.equal(body.id, body.commit.id, 'the trigger request is the pipeline');
      assert.equal(body.commit.ref, 'master');
      assert.equal(body.commit.sha, PIPELINE_SHA);
      assert.equal(body.commit.status, 'pending');
      assert.deepEqual(await api.getPipeline(project.id, body.commit.id), body.commit);

      const [, triggered] = await takeBuilds(project.runners_token, 2);
      const sent = sentVariables(triggered!);
      for (const expected of [
        { key: 'CI_BUILD_NAME', value: 'spinach', public: true },
        { key: 'CI_BUILD_STAGE', value: 'test', public: true },
        { key: 'CI_BUILD_TRIGGERED', value: 'true', public: true },
        { key: 'DB_NAME', value: 'postgres', public: true },
        { key: 'SECRET_KEY', value: 'secret_value', public: false },
        { key: 'TRIGGER_KEY_1', value: 'TRIGGER_VALUE_1', public: false },
      ]) {
        assert.ok(sent.some((v) => v.key === expected.key && v.value === expected.value && v.public === expected.public), expected.key);
      }
    });

    test('.json variant, form body, and no variables at all', async () => {
      const { project, trigger } = await triggerableProject();
      const bare = await post(legacyPath(project.id, 'master', '.json'), { token: trigger.token });
      assert.equal(bare.status, 201, bare.text);
      assert.equal((bare.body as Schemas['TriggerRequest']).variables, null);
      const form = new URLSearchParams({ token: trigger.token, 'variables[KEY]': 'value' });
      const formed = await post(legacyPath(project.id, 'master'), form, 'application/x-www-form-urlencoded');
      assert.equal(formed.status, 201, formed.text);
      assert.deepEqual((formed.body as Schemas['TriggerRequest']).variables, { KEY: 'value' });
    });

    test('refusals in GitLab 8.15\'s words', async () => {
      const { project, trigger } = await triggerableProject();
      const other = await triggerableProject();
      const expect = async (path: string, body: unknown, status: number, message: string) => {
        const reply = await post(path, body);
        assert.equal(reply.status, status, `${path} ${JSON.stringify(body)}: ${reply.text}`);
        assert.equal(reply.headers.get('content-type'), 'application/json');
        assert.equal((reply.body as Message).message, message);
      };
      const path = legacyPath(project.id, 'master');
      await expect(path, {}, 400, '400 (Bad request) "token" not given');
      await expect(legacyPath(999999, 'master'), { token: trigger.token }, 404, '404 Not Found');
      await expect(path, { token: 'unknown-token' }, 404, '404 Not Found');
      await expect(path, { token: other.trigger.token }, 401, '401 Unauthorized');
      await expect(path, { token: trigger.token, variables: 'x' }, 400, 'variables needs to be a hash');
      await expect(path, { token: trigger.token, variables: { KEY: ['a'] } }, 400, 'variables needs to be a map of key-valued strings');
      const count = await coordinator.db('pipelines').where({ project_id: project.id }).count({ n: '*' });
      assert.equal(Number(count[0]?.n), 1, 'nothing was created');
    });

    test('only/except excluding every job: 400 No builds created', async () => {
      const project = await api.createProject({ ci_config: 'deploy:\n  script: cap deploy\n  only: [master]\n' });
      await api.createPipeline(project.id, { ref: 'feature', ci_config: 'rspec:\n  script: rspec\n' });
      const trigger = await createTrigger(project.id);
      const reply = await post(legacyPath(project.id, 'feature'), { token: trigger.token });
      assert.equal(reply.status, 400, reply.text);
      assert.equal((reply.body as Message).message, 'No builds created');
      assert.ok((reply.body as Message).errors?.some((error) => error.includes('feature')), reply.text);
    });
  });

  // GitLab's documented calls: `curl -X POST -F token=TOKEN -F ref=master -F "variables[KEY]=value"`.
  describe('multipart forms (curl -F)', () => {
    const legacyPath = (projectId: number, ref: string, suffix = '') => `/ci/api/v1/projects/${projectId}/refs/${ref}/trigger${suffix}`;
    type CurlForm = { contentType: string; body: string };

    /** A multipart body built by hand, as curl writes it: a part per field, no charset. */
    function curlForm(fields: [string, string][], boundary = '------------------------d74496d66958873e'): CurlForm {
      const parts = fields.map(([name, value]) => `--${boundary}\r\nContent-Disposition: form-data; name="${name}"\r\n\r\n${value}\r\n`);
      return { contentType: `multipart/form-data; boundary=${boundary}`, body: `${parts.join('')}--${boundary}--\r\n` };
    }

    async function postMultipart(path: string, form: CurlForm | FormData): Promise<ApiReply<unknown>> {
      const init: RequestInit =
        form instanceof FormData ? { method: 'POST', body: form } : { method: 'POST', headers: { 'Content-Type': form.contentType }, body: form.body };
      const response = await fetch(`${coordinator.url}${path}`, init);
      const text = await response.text();
      const json = response.headers.get('content-type') === 'application/json' && text ? (JSON.parse(text) as unknown) : text;
      return { status: response.status, headers: response.headers, body: json, text };
    }

    async function pipelineCount(projectId: number): Promise<number> {
      const count = await coordinator.db('pipelines').where({ project_id: projectId }).count({ n: '*' });
      return Number(count[0]?.n);
    }

    test('trigger/pipeline: variables[KEY] fields become the trigger variables, UTF-8 kept', async () => {
      const { project, trigger } = await triggerableProject();
      const form = new FormData();
      form.append('token', trigger.token);
      form.append('ref', 'master');
      form.append('variables[DEPLOY_TARGET]', 'staging');
      form.append('variables[GREETING]', 'grüß dich ☕');
      const reply = await postMultipart(`/api/v4/projects/${project.id}/trigger/pipeline`, form);
      assert.equal(reply.status, 201, reply.text);
      assert.equal(reply.headers.get('content-type'), 'application/json');
      const pipeline = reply.body as Schemas['Pipeline'];
      assert.equal(pipeline.ref, 'master');
      assert.equal(pipeline.sha, PIPELINE_SHA);
      const [, triggered] = await takeBuilds(project.runners_token, 2);
      assert.deepEqual(sentVariables(triggered!).slice(-2), [
        { key: 'DEPLOY_TARGET', value: 'staging', public: false },
        { key: 'GREETING', value: 'grüß dich ☕', public: false },
      ]);
    });

    test('legacy trigger and its .json variant: the trigger request holds the variables given', async () => {
      const { project, trigger } = await triggerableProject();
      const plain = await postMultipart(legacyPath(project.id, 'master'), curlForm([['token', trigger.token], ['variables[RUN_NIGHTLY_BUILD]', 'true']]));
      assert.equal(plain.status, 201, plain.text);
      assert.deepEqual((plain.body as Schemas['TriggerRequest']).variables, { RUN_NIGHTLY_BUILD: 'true' });
      const json = await postMultipart(legacyPath(project.id, 'master', '.json'), curlForm([['token', trigger.token]], 'X-BOUNDARY'));
      assert.equal(json.status, 201, json.text);
      assert.equal((json.body as Schemas['TriggerRequest']).variables, null);
      assert.equal(await pipelineCount(project.id), 3);
    });

    test('refused as the same fields urlencoded are, and a file part is refused with 400', async () => {
      const { project, trigger } = await triggerableProject();
      const other = await triggerableProject();
      const pipelinePath = `/api/v4/projects/${project.id}/trigger/pipeline`;
      const expect = async (path: string, form: CurlForm | FormData, status: number, message: string) => {
        const reply = await postMultipart(path, form);
        assert.equal(reply.status, status, `${path}: ${reply.text}`);
        assert.equal(reply.headers.get('content-type'), 'application/json');
        assert.equal((reply.body as Message).message, message);
      };
      await expect(pipelinePath, curlForm([['ref', 'master']]), 400, '400 (Bad request) "token" not given');
      await expect(pipelinePath, curlForm([['token', trigger.token]]), 400, '400 (Bad request) "ref" not given');
      await expect(pipelinePath, curlForm([['token', other.trigger.token], ['ref', 'master']]), 401, '401 Unauthorized');
      await expect(pipelinePath, curlForm([['token', 'not-a-trigger-token'], ['ref', 'master']]), 404, '404 Not Found');
      const nested = curlForm([['token', trigger.token], ['ref', 'master'], ['variables[A][B]', 'x']]);
      await expect(pipelinePath, nested, 400, 'variables needs to be a map of key-valued strings');
      await expect(legacyPath(project.id, 'master'), curlForm([['token', trigger.token], ['variables', 'A=1']]), 400, 'variables needs to be a hash');

      for (const path of [pipelinePath, legacyPath(project.id, 'master'), legacyPath(project.id, 'master', '.json')]) {
        const withFile = new FormData();
        withFile.append('token', trigger.token);
        withFile.append('ref', 'master');
        withFile.append('variables', new Blob(['DEPLOY_TARGET=staging\n']), 'variables.env');
        await expect(path, withFile, 400, '400 Bad request - variables is a file: only text fields are accepted');
      }
      const tooMany = curlForm([['token', trigger.token], ['ref', 'master'], ...Array.from({ length: 200 }, (_, i): [string, string] => [`variables[K${i}]`, 'v'])]);
      await expect(pipelinePath, tooMany, 400, '400 Bad request - too many form fields');
      await expect(pipelinePath, { contentType: 'multipart/form-data', body: 'token=x' }, 400, '400 Bad request - Multipart: Boundary not found');
      const unterminated = curlForm([['token', trigger.token], ['ref', 'master']]);
      await expect(pipelinePath, { ...unterminated, body: unterminated.body.slice(0, 60) }, 400, '400 Bad request - Unexpected end of form');
      assert.equal(await pipelineCount(project.id), 1, 'nothing was created');
    });

    test('a form over MAX_BODY_SIZE_MB gets 413, sent chunked or with its length', async () => {
      const small = await startTestCoordinator({ MAX_BODY_SIZE_MB: '1' });
      try {
        const project = await new UserApi(small.url, small.adminToken).createProject();
        // Each field within busboy's field size limit; together just over 1 MiB.
        const form = curlForm(Array.from({ length: 17 }, (_, i): [string, string] => [`variables[K${i}]`, 'x'.repeat(62 * 1024)]));
        for (const chunked of [true, false]) {
          const reply = await new Promise<{ status: number | undefined; connection: string | undefined; text: string }>((resolve, reject) => {
            const request = http.request(`${small.url}/api/v4/projects/${project.id}/trigger/pipeline`, {
              method: 'POST',
              headers: { 'Content-Type': form.contentType, ...(chunked ? {} : { 'Content-Length': Buffer.byteLength(form.body) }) },
            });
            request.on('response', (response) => {
              let text = '';
              response.setEncoding('utf8');
              response.on('data', (chunk: string) => (text += chunk));
              response.on('end', () => resolve({ status: response.statusCode, connection: response.headers.connection, text }));
            });
            // The server may close before the whole body is written.
            request.on('error', (err: NodeJS.ErrnoException) => (err.code === 'EPIPE' || err.code === 'ECONNRESET' ? undefined : reject(err)));
            request.end(form.body);
          });
          assert.equal(reply.status, 413, `chunked ${chunked}: ${reply.text}`);
          assert.equal(reply.connection, 'close');
          assert.equal((JSON.parse(reply.text) as Message).message, '413 Request Entity Too Large');
        }
      } finally {
        await small.stop();
      }
    });
  });
});
