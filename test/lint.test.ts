// POST /api/v4/ci/lint against POST /api/v4/projects/:id/pipeline: over a table of valid
// and invalid configs, lint's verdict is exactly what pipeline creation does with the config.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import type { components } from '../src/generated/api.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { UserApi } from './support/userApi.js';

type Schemas = components['schemas'];
type Refusal = { message: string; errors?: string[] };

const VALID: [string, string][] = [
  ['one job', 'rspec:\n  script: rspec\n'],
  ['stages and dependencies', 'stages: [build, test]\ncompile:\n  stage: build\n  script: make\n  artifacts: {paths: [out/], expire_in: 1 week}\nrspec:\n  script: rspec\n  dependencies: [compile]\n'],
  ['templates by anchors and merge keys', '.ruby: &ruby\n  image: ruby:2.3\n  tags: [docker]\nrspec:\n  <<: *ruby\n  script: rspec\n'],
  ['variables, cache, manual job', 'variables: {DB: postgres}\ncache: {paths: [vendor/]}\ndeploy:\n  stage: deploy\n  script: cap deploy\n  when: manual\n'],
  ['deprecated types (a warning)', 'types: [build, test]\nrspec:\n  type: test\n  script: rspec\n'],
  ['only/except that match master', 'rspec:\n  script: rspec\n  only: [branches, /^mast/]\n  except: [tags]\n'],
];

const INVALID: [string, string][] = [
  ['empty text', ''],
  ['blank text', ' \n\t\n'],
  ['YAML syntax error', 'rspec: ['],
  ['a list document', '- a\n- b'],
  ['only hidden jobs', '.hidden: {script: x}'],
  ['missing script', 'rspec: {stage: test}'],
  ['unknown stage', 'rspec: {stage: lint, script: x}'],
  ['dependency on a later stage', 'rspec: {script: x, dependencies: [deploy]}\ndeploy: {stage: deploy, script: y}'],
  ['bad expire_in', 'rspec: {script: x, artifacts: {expire_in: forever}}'],
  ['bad regexp', 'rspec: {script: x, except: ["/(/"]}'],
  ['bad variable name', 'variables: {A-B: 1}\nrspec: {script: x}'],
  ['several problems at once', 'stages: [build, test]\nrspec:\n  script: []\n  when: later\n  tags: docker\nlint:\n  stage: nope\n  script: x\n  foo: 1\n'],
  ['unknown alias', 'rspec: {script: *nope}'],
];

describe('POST /api/v4/ci/lint', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let project: Schemas['Project'];

  before(async () => {
    coordinator = await startTestCoordinator({ HOUSEKEEPING_INTERVAL_SECONDS: '0' });
    api = new UserApi(coordinator.url, coordinator.adminToken);
    project = await api.createProject();
  });
  after(() => coordinator.stop());

  async function lint(content: string): Promise<Schemas['LintResult']> {
    const reply = await api.request<Schemas['LintResult']>('POST', '/api/v4/ci/lint', { content });
    assert.equal(reply.status, 200, reply.text);
    assert.equal(reply.headers.get('content-type'), 'application/json');
    return reply.body;
  }

  function createPipeline(ciConfig: string, fields: Partial<Schemas['NewPipeline']> = {}) {
    return api.request<Refusal>('POST', `/api/v4/projects/${project.id}/pipeline`, {
      ref: 'master',
      sha: '97de212e80737a608d939f648d959671fb0a0142',
      ci_config: ciConfig,
      ...fields,
    });
  }

  for (const [title, config] of VALID) {
    test(`valid: ${title}: lint says valid, and the pipeline is created`, async () => {
      const verdict = await lint(config);
      assert.equal(verdict.valid, true, JSON.stringify(verdict));
      assert.deepEqual(verdict.errors, []);
      const created = await createPipeline(config);
      assert.equal(created.status, 201, created.text);
    });
  }

  for (const [title, config] of INVALID) {
    test(`invalid: ${title}: lint's errors are the pipeline's 400 errors`, async () => {
      const verdict = await lint(config);
      assert.equal(verdict.valid, false);
      assert.ok(verdict.errors.length > 0);
      const refused = await createPipeline(config);
      assert.equal(refused.status, 400, refused.text);
      assert.deepEqual(refused.body.errors, verdict.errors);
    });
  }

  test('warnings are reported beside a valid verdict', async () => {
    const verdict = await lint('types: [build, test]\nrspec:\n  type: test\n  script: rspec\n');
    assert.deepEqual(verdict, {
      valid: true,
      errors: [],
      warnings: ['types is deprecated, use stages instead', 'jobs:rspec:type is deprecated, use stage instead'],
    });
  });

  test('a config whose jobs exclude the ref: lint has no ref, so it is valid; pipelines follow the ref', async () => {
    const tagsOnly = 'release:\n  script: make release\n  only: [tags]\n';
    assert.deepEqual(await lint(tagsOnly), { valid: true, errors: [], warnings: [] });
    const forBranch = await createPipeline(tagsOnly);
    assert.equal(forBranch.status, 400);
    assert.deepEqual(forBranch.body.errors, ['No jobs for branch master: only/except exclude them all']);
    const forTag = await createPipeline(tagsOnly, { ref: 'v1.0', tag: true });
    assert.equal(forTag.status, 201, forTag.text);
  });

  test('a body without content, or with content that is not text, gets 400; no token gets 401', async () => {
    for (const body of [{}, { content: 5 }, { content: null }, { content: 'x: {script: y}', extra: 1 }]) {
      const reply = await api.request<Refusal>('POST', '/api/v4/ci/lint', body);
      assert.equal(reply.status, 400, JSON.stringify(body));
      assert.equal(typeof reply.body.message, 'string');
    }
    const garbled = await api.request<Refusal>('POST', '/api/v4/ci/lint', undefined, { 'Content-Type': 'application/json' });
    assert.equal(garbled.status, 400);
    const anonymous = await fetch(`${coordinator.url}/api/v4/ci/lint`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ content: 'rspec: {script: x}' }),
    });
    assert.equal(anonymous.status, 401);
  });
});
