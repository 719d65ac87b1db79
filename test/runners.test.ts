// POST runners/register and DELETE runners/delete: GitLab 8.15's runners_spec (gitlab-ci-api-v1.md
// §8.8, N1–N14) and the derived checks X13–X14 of §8.9, against a real server.
import { createHash } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { FACTORY_CONFIG, startWorld, type RegisteredRunner, type World } from './support/runnerApi.js';

describe('runners API', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(() => world.coordinator.stop());

  const runnerRow = async (id: number) => world.coordinator.db('runners').where({ id }).first();
  const runnerCount = async () => Number((await world.coordinator.db('runners').count({ n: '*' }))[0]?.n);
  const register = (body: unknown, path = '/ci/api/v1/runners/register') => world.runners.request('POST', path, body);
  const unregister = (body: unknown, path = '/ci/api/v1/runners/delete') => world.runners.request('DELETE', path, body);

  describe('POST /runners/register', () => {
    test('N1: the registration token creates a shared runner with default values', async () => {
      const reply = await register({ token: world.coordinator.registrationToken });
      assert.equal(reply.status, 201);
      assert.equal(reply.headers['content-type'], 'application/json');
      const body = reply.json as RegisteredRunner;
      assert.deepEqual(Object.keys(body).sort(), ['id', 'token']);
      assert.equal(typeof body.id, 'number');
      assert.match(body.token, /^[0-9a-f]{30}$/);
      const row = await runnerRow(body.id);
      // Kept as its SHA-256 digest only: the token itself is shown this once.
      assert.equal(row.token_digest, createHash('sha256').update(body.token).digest('hex'));
      assert.equal(row.token, undefined);
      assert.equal(Boolean(row.is_shared), true);
      assert.equal(Boolean(row.run_untagged), true);
      assert.equal(Boolean(row.locked), false);
      assert.equal(Boolean(row.active), true);
      assert.equal(JSON.parse(row.tag_list).length, 0);
      // Registering is not polling: contacted_at stays empty.
      assert.equal(row.contacted_at, null);
    });

    test('N2: stores the description', async () => {
      const body = await world.runners.registerRunner({ token: world.coordinator.registrationToken, description: 'server.hostname' });
      assert.equal((await runnerRow(body.id)).description, 'server.hostname');
    });

    test('N3: a comma-separated tag_list is trimmed, de-duplicated and sorted', async () => {
      const first = await world.runners.registerRunner({ token: world.coordinator.registrationToken, tag_list: 'tag1, tag2' });
      assert.deepEqual(JSON.parse((await runnerRow(first.id)).tag_list), ['tag1', 'tag2']);
      const messy = await world.runners.registerRunner({ token: world.coordinator.registrationToken, tag_list: ' ruby ,, mysql, ruby , ' });
      assert.deepEqual(JSON.parse((await runnerRow(messy.id)).tag_list), ['mysql', 'ruby']);
    });

    test('N4: run_untagged=false with tags creates a runner that runs only tagged builds', async () => {
      const body = await world.runners.registerRunner({ token: world.coordinator.registrationToken, run_untagged: false, tag_list: ['tag'] });
      const row = await runnerRow(body.id);
      assert.equal(Boolean(row.run_untagged), false);
      assert.deepEqual(JSON.parse(row.tag_list), ['tag']);
    });

    test('N5: run_untagged=false without tags answers 404 and stores nothing', async () => {
      const before = await runnerCount();
      for (const tagList of [undefined, '', ' , ', []]) {
        const reply = await register({ token: world.coordinator.registrationToken, run_untagged: false, tag_list: tagList });
        assert.equal(reply.status, 404, `tag_list ${JSON.stringify(tagList)}`);
        assert.equal(reply.headers['content-type'], 'application/json');
        assert.deepEqual(reply.json, { message: '404 Not Found' });
      }
      assert.equal(await runnerCount(), before);
    });

    test("N6: a project's runners token creates a specific runner of that project", async () => {
      const project = await world.api.createProject();
      const body = await world.runners.registerRunner({ token: project.runners_token });
      assert.equal(Boolean((await runnerRow(body.id)).is_shared), false);
      const links = await world.coordinator.db('runner_projects').where({ project_id: project.id });
      assert.deepEqual(links.map((link) => Number(link.runner_id)), [body.id]);
    });

    test('N7: an unknown token answers 403', async () => {
      const reply = await register({ token: 'invalid' });
      assert.equal(reply.status, 403);
      assert.equal(reply.headers['content-type'], 'application/json');
      assert.deepEqual(reply.json, { message: '403 Forbidden' });
    });

    test('N8: no token, or a blank one, answers 400', async () => {
      const before = await runnerCount();
      for (const body of [{}, { token: '' }, { token: '   ' }, { description: 'x' }]) {
        const reply = await register(body);
        assert.equal(reply.status, 400, JSON.stringify(body));
        assert.equal(reply.headers['content-type'], 'application/json');
        assert.deepEqual(reply.json, { message: '400 (Bad request) "token" not given' });
      }
      const noBody = await world.runners.request('POST', '/ci/api/v1/runners/register');
      assert.equal(noBody.status, 400);
      assert.equal(typeof (noBody.json as { message: unknown }).message, 'string');
      assert.equal(await runnerCount(), before);
    });

    for (const key of ['name', 'version', 'revision', 'platform', 'architecture']) {
      test(`N9–N13: stores info[${key}]`, async () => {
        const body = await world.runners.registerRunner({ token: world.coordinator.registrationToken, info: { [key]: `${key}_value` } });
        const row = await runnerRow(body.id);
        assert.equal(row[key], `${key}_value`);
        assert.equal(row.contacted_at, null);
      });
    }

    test('stores the whole info a real runner sends, ignoring keys it does not know', async () => {
      const info = { name: 'gitlab-ci-multi-runner', version: '1.11.5', revision: 'cbfcb5c8', platform: 'linux', architecture: 'amd64', features: { variables: false } };
      const body = await world.runners.registerRunner({ token: world.coordinator.registrationToken, description: 'e2e-runner', tag_list: 'a,b', run_untagged: false, info });
      const row = await runnerRow(body.id);
      assert.deepEqual(
        [row.name, row.version, row.revision, row.platform, row.architecture, row.description],
        ['gitlab-ci-multi-runner', '1.11.5', 'cbfcb5c8', 'linux', 'amd64', 'e2e-runner'],
      );
    });

    test('X13: stores locked=true and takes tags as a JSON array', async () => {
      const body = await world.runners.registerRunner({ token: world.coordinator.registrationToken, locked: true, tag_list: ['linux', 'docker', 'linux'] });
      const row = await runnerRow(body.id);
      assert.equal(Boolean(row.locked), true);
      assert.deepEqual(JSON.parse(row.tag_list), ['docker', 'linux']);
    });

    test("X13: a pending-delete project's runners token answers 403", async () => {
      const project = await world.api.createProject();
      // There is no project deletion API yet: flag the project the way a deletion would.
      await world.coordinator.db('projects').where({ id: project.id }).update({ pending_delete: true });
      const reply = await register({ token: project.runners_token });
      assert.equal(reply.status, 403);
      assert.deepEqual(reply.json, { message: '403 Forbidden' });
    });

    test('X6: the .json variant registers too', async () => {
      const reply = await register({ token: world.coordinator.registrationToken }, '/ci/api/v1/runners/register.json');
      assert.equal(reply.status, 201);
      assert.equal(reply.headers['content-type'], 'application/json');
    });

    test('wrong types answer 400 with a JSON message', async () => {
      for (const body of [{ token: 5 }, { token: world.coordinator.registrationToken, tag_list: 5 }, { token: world.coordinator.registrationToken, run_untagged: 'yes' }, { token: world.coordinator.registrationToken, info: { version: 1 } }]) {
        const reply = await register(body);
        assert.equal(reply.status, 400, JSON.stringify(body));
        assert.equal(reply.headers['content-type'], 'application/json');
        assert.equal(typeof (reply.json as { message: unknown }).message, 'string');
      }
      const garbled = await world.runners.request('POST', '/ci/api/v1/runners/register', '{"tok');
      assert.equal(garbled.status, 400);
      assert.equal(garbled.headers['content-type'], 'application/json');
    });
  });

  describe('DELETE /runners/delete', () => {
    test('N14: deletes the runner and answers 200 with its id and token', async () => {
      const body = await world.runners.registerRunner({ token: world.coordinator.registrationToken });
      const reply = await unregister({ token: body.token });
      assert.equal(reply.status, 200);
      assert.equal(reply.headers['content-type'], 'application/json');
      assert.deepEqual(reply.json, { id: body.id, token: body.token });
      assert.equal(await runnerRow(body.id), undefined);
    });

    test("removes the runner's project links; its builds keep their history without it", async () => {
      const project = await world.api.createProject();
      await world.api.createPipeline(project.id, { ci_config: FACTORY_CONFIG });
      const body = await world.runners.registerRunner({ token: project.runners_token });
      const build = await world.runners.takeBuild(body.token);
      const reply = await unregister({ token: body.token }, '/ci/api/v1/runners/delete.json');
      assert.equal(reply.status, 200);
      assert.equal((await world.coordinator.db('runner_projects').where({ runner_id: body.id })).length, 0);
      // GitLab kept the dangling runner_id; our schema's ON DELETE SET NULL clears it.
      const row = await world.coordinator.db('builds').where({ id: build.id }).first();
      assert.equal(row.runner_id, null);
      assert.equal(row.status, 'running');
    });

    test('X14: an unknown token answers 403, a missing one 400', async () => {
      const unknown = await unregister({ token: 'unknown' });
      assert.equal(unknown.status, 403);
      assert.deepEqual(unknown.json, { message: '403 Forbidden' });
      const missing = await unregister({});
      assert.equal(missing.status, 400);
      assert.deepEqual(missing.json, { message: '400 (Bad request) "token" not given' });
    });

    test('a deleted runner is gone: deleting again answers 403, and so does asking for builds', async () => {
      const body = await world.runners.registerRunner({ token: world.coordinator.registrationToken });
      assert.equal((await unregister({ token: body.token })).status, 200);
      assert.equal((await unregister({ token: body.token })).status, 403);
      assert.equal((await world.runners.requestBuild(body.token)).status, 403);
      // The runner's verify: PUT builds/-1 answers 403 once it was removed.
      assert.equal((await world.runners.updateBuild(-1, { token: body.token }, '/ci/api/v1/builds/-1')).status, 403);
    });
  });
});
