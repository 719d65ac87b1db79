import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { UserApi } from './support/userApi.js';

describe('user API: projects and pipelines', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  before(async () => {
    coordinator = await startTestCoordinator();
    api = new UserApi(coordinator.url, coordinator.adminToken);
  });
  after(() => coordinator.stop());

  test('creates a project with GitLab defaults and reads it back', async () => {
    const project = await api.createProject({ name: 'diaspora', repo_url: '/srv/repos/diaspora.git' });
    assert.equal(project.name, 'diaspora');
    assert.equal(project.repo_url, '/srv/repos/diaspora.git');
    assert.equal(project.shared_runners_enabled, true);
    assert.equal(project.build_timeout, 3600);
    assert.equal(project.build_allow_git_fetch, true);
    assert.match(project.runners_token, /^[0-9a-f]{30}$/);
    const reply = await api.request('GET', `/api/v4/projects/${project.id}`);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('content-type'), 'application/json');
    assert.deepEqual(reply.body, project);
  });

  test('refuses a missing or wrong PRIVATE-TOKEN with 401', async () => {
    for (const headers of [{ 'PRIVATE-TOKEN': 'wrong' }, { 'PRIVATE-TOKEN': '' }]) {
      const reply = await api.request('POST', '/api/v4/projects', { name: 'x', repo_url: 'y' }, headers);
      assert.equal(reply.status, 401);
      assert.deepEqual(reply.body, { message: '401 Unauthorized' });
    }
    const bare = await fetch(`${coordinator.url}/api/v4/projects/1`);
    assert.equal(bare.status, 401);
  });

  test('answers 400 with a JSON message for wrong types, and 404 for unknown ids', async () => {
    const wrongType = await api.request('POST', '/api/v4/projects', { name: 5, repo_url: 'y' });
    assert.equal(wrongType.status, 400);
    assert.match((wrongType.body as { message: string }).message, /name/);
    const nonNumeric = await api.request('GET', '/api/v4/projects/abc');
    assert.equal(nonNumeric.status, 400);
    const unknown = await api.request('GET', '/api/v4/projects/999999');
    assert.equal(unknown.status, 404);
    assert.deepEqual(unknown.body, { message: '404 Not Found' });
    const garbled = await api.request('POST', '/api/v4/projects', undefined, { 'Content-Type': 'application/json' });
    assert.equal(garbled.status, 400);
  });

  test('creates a pipeline whose first stage is pending', async () => {
    const project = await api.createProject();
    const pipeline = await api.createPipeline(project.id, {
      ci_config: 'stages: [build, test]\ncompile:\n  stage: build\n  script: make\nrspec:\n  script: rspec\n',
    });
    assert.equal(pipeline.status, 'pending');
    assert.equal(pipeline.before_sha, '0000000000000000000000000000000000000000');
    const again = await api.getPipeline(project.id, pipeline.id);
    assert.deepEqual(again, pipeline);
  });

  test('an invalid .gitlab-ci.yml gets 400 with every error and stores nothing', async () => {
    const project = await api.createProject();
    const reply = await api.request<{ message: string; errors: string[] }>('POST', `/api/v4/projects/${project.id}/pipeline`, {
      ref: 'master',
      sha: '97de212e80737a608d939f648d959671fb0a0142',
      ci_config: 'rspec:\n  stage: nope\n  script: x\nlint:\n  image: ruby\n',
    });
    assert.equal(reply.status, 400);
    assert.ok(reply.body.errors.length >= 2, reply.text);
    assert.ok(reply.body.errors.some((e) => e.includes('rspec') && e.includes('stage')), reply.text);
    assert.ok(reply.body.errors.some((e) => e.includes('lint') && e.includes('script')), reply.text);
    const count = await coordinator.db('pipelines').where({ project_id: project.id }).count({ n: '*' });
    assert.equal(Number(count[0]?.n), 0);
  });
});
