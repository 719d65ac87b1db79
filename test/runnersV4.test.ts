// The runner API v4's runner endpoints (runner-protocol-v4.md §1, GitLab's runners_post_spec and
// runners_verify_post_spec, the runner's TestRegisterRunner / TestVerifyRunner / TestUnregisterRunner*)
// and the user API around them (POST /user/runners, GET /runners), against a real server.
//
// runner-protocol-v4.md §8 → here:
// | behaviour (§8.1 runners_post_spec / runners_verify_post_spec, §8.2 gitlab_test.go) | test                                  |
// |-------------------------------------------------------------------------------------|---------------------------------------|
// | POST /runners: 400 without token, 403 invalid token                                 | refusals are 4xx JSON {message}       |
// | 201 {id, token, token_expires_at}; null when tokens do not expire (they never do)   | the registration token registers ...  |
// | deprecated maintainer_note / active mapped; not both spellings                      | deprecated active ..., refusals       |
// | comma-separated tag_list; too many tags → 400                                       | registers ..., defaults ..., refusals |
// | verify: 400 / 403; 200 JSON {id, token, token_expires_at} for glrt- and other tokens | POST /api/v4/runners/verify, glrt-    |
// | verify: an expired token → 403                                                      | n/a: tokens never expire here         |
// | verify: system_id creates one runner manager                                        | each system_id becomes one manager    |
// | TestUnregisterRunner / TestUnregisterRunnerManager: 204                             | DELETE ... and /managers              |
// | TestResetToken (201)                                                                | n/a: token_expires_at is null, so the |
// |                                                                                     | runner never calls it (§1.3)          |
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { FACTORY_CONFIG, RunnerApi } from './support/runnerApi.js';
import { RunnerV4Api, type RunnerAuthentication } from './support/runnerV4Api.js';
import { UserApi } from './support/userApi.js';
import { tokenDigest } from '../src/store/tokenDigests.js';

const VIEWER_TOKEN = 'viewer-token-for-tests';

describe('runner API v4: runners', () => {
  let coordinator: TestCoordinator;
  let v4: RunnerV4Api;
  let v1: RunnerApi;
  let api: UserApi;
  before(async () => {
    coordinator = await startTestCoordinator({ CI_VIEWER_TOKEN: VIEWER_TOKEN });
    v4 = new RunnerV4Api(coordinator.url);
    v1 = new RunnerApi(coordinator.url);
    api = new UserApi(coordinator.url, coordinator.adminToken);
  });
  after(() => coordinator.stop());

  const runnerRow = async (id: number) => coordinator.db('runners').where({ id }).first();
  const runnerCount = async () => Number((await coordinator.db('runners').count({ n: '*' }))[0]?.n);
  const managers = async (runnerId: number) =>
    (await coordinator.db('runner_managers').where({ runner_id: runnerId }).orderBy('id')).map((row) => String(row.system_id));
  const registrationToken = () => coordinator.registrationToken;

  describe('POST /api/v4/runners', () => {
    test('the registration token registers a shared v4 runner: 201 {id, token, token_expires_at: null}, settings and info stored', async () => {
      const reply = await v4.register({
        token: registrationToken(),
        description: 'docker-runner',
        maintenance_note: 'rack 4',
        tag_list: 'docker, linux,docker',
        run_untagged: false,
        locked: false,
        access_level: 'ref_protected',
        maximum_timeout: 3600,
        paused: true,
      });
      assert.equal(reply.status, 201);
      assert.match(String(reply.headers['content-type']), /^application\/json/);
      const body = reply.json as RunnerAuthentication;
      assert.deepEqual(Object.keys(body).sort(), ['id', 'token', 'token_expires_at']);
      assert.equal(typeof body.id, 'number');
      assert.equal(body.token_expires_at, null);
      // Not an authentication token: the runner picks DELETE /runners (not /managers) by the prefix.
      assert.doesNotMatch(body.token, /^glrt-/);
      const row = await runnerRow(body.id);
      assert.equal(row.token_digest, tokenDigest(body.token), 'only the digest is kept');
      assert.equal(row.api_version, 'v4');
      assert.equal(row.registration_type, 'registration_token');
      assert.equal(Boolean(row.is_shared), true);
      assert.deepEqual(JSON.parse(row.tag_list), ['docker', 'linux']);
      assert.equal(Boolean(row.run_untagged), false);
      assert.equal(Boolean(row.locked), false);
      assert.equal(Boolean(row.active), false, 'paused: true registers it paused');
      assert.equal(row.access_level, 'ref_protected');
      assert.equal(Number(row.maximum_timeout), 3600);
      assert.equal(row.description, 'docker-runner');
      assert.equal(row.maintenance_note, 'rack 4');
      assert.deepEqual(
        { name: row.name, version: row.version, revision: row.revision, platform: row.platform, architecture: row.architecture },
        { name: 'gitlab-runner', version: '17.11.0', revision: '0f67ff19', platform: 'linux', architecture: 'amd64' },
      );
      assert.equal(row.contacted_at, null, 'registering is not polling');
    });

    test('defaults: not paused, not protected, no maximum timeout; tag_list may be an array', async () => {
      const body = await v4.registerRunner({ token: registrationToken(), tag_list: ['ruby', ' mysql ', 'ruby'] });
      const row = await runnerRow(body.id);
      assert.deepEqual(JSON.parse(row.tag_list), ['mysql', 'ruby']);
      assert.equal(Boolean(row.active), true);
      assert.equal(row.access_level, 'not_protected');
      assert.equal(row.maximum_timeout, null);
      assert.equal(Boolean(row.locked), true, 'the runner CLI sends locked: true by default');
    });

    test("a project's runners token registers a specific runner of that project", async () => {
      const project = await api.createProject();
      const body = await v4.registerRunner({ token: project.runners_token });
      const row = await runnerRow(body.id);
      assert.equal(Boolean(row.is_shared), false);
      const links = await coordinator.db('runner_projects').where({ project_id: project.id });
      assert.deepEqual(links.map((link) => Number(link.runner_id)), [body.id]);
    });

    test('deprecated active: false and maintainer_note map to paused and maintenance_note', async () => {
      const body = await v4.registerRunner({ token: registrationToken(), active: false, paused: undefined, maintainer_note: 'old name' });
      const row = await runnerRow(body.id);
      assert.equal(Boolean(row.active), false);
      assert.equal(row.maintenance_note, 'old name');
    });

    test('refusals are 4xx JSON {message} and store nothing', async () => {
      const before = await runnerCount();
      const cases: [Record<string, unknown>, number, RegExp][] = [
        [{ token: 'invalid' }, 403, /^403 Forbidden/],
        [{}, 400, /"token" not given/],
        [{ token: '  ' }, 400, /"token" not given/],
        [{ token: registrationToken(), run_untagged: false }, 400, /tags_list can not be empty/],
        [{ token: registrationToken(), run_untagged: false, tag_list: ' , ' }, 400, /tags_list can not be empty/],
        [{ token: registrationToken(), maximum_timeout: 599 }, 400, /at least 10 minutes/],
        [{ token: registrationToken(), access_level: 'everyone' }, 400, /access_level/],
        [{ token: registrationToken(), maintainer_note: 'a', maintenance_note: 'b' }, 400, /mutually exclusive/],
        [{ token: registrationToken(), active: true, paused: false }, 400, /mutually exclusive/],
        [{ token: registrationToken(), tag_list: 5 }, 400, /tag_list/],
        [{ token: registrationToken(), tag_list: Array.from({ length: 51 }, (_, i) => `tag${i}`).join(',') }, 400, /Too many tags/],
      ];
      for (const [fields, status, message] of cases) {
        const reply = await v4.register(fields);
        assert.equal(reply.status, status, JSON.stringify(fields));
        assert.match(String(reply.headers['content-type']), /^application\/json/);
        assert.match((reply.json as { message: string }).message, message, JSON.stringify(fields));
      }
      const garbled = await v4.request('POST', '/api/v4/runners', '{"token":', { 'User-Agent': 'gitlab-runner 17.11.0' });
      assert.equal(garbled.status, 400);
      assert.equal(await runnerCount(), before);
    });
  });

  describe('POST /api/v4/runners/verify', () => {
    test('a v4 token answers 200 {id, token, token_expires_at}; each system_id becomes one runner manager', async () => {
      const runner = await v4.registerRunner({ token: registrationToken() });
      for (let i = 0; i < 2; i++) {
        const reply = await v4.verify(runner.token, 's_0123456789ab');
        assert.equal(reply.status, 200);
        assert.deepEqual(reply.json, { id: runner.id, token: runner.token, token_expires_at: null });
      }
      assert.equal((await v4.verify(runner.token, 's_ba9876543210')).status, 200);
      assert.equal((await v4.verify(runner.token)).status, 200);
      assert.deepEqual(await managers(runner.id), ['s_0123456789ab', 's_ba9876543210']);
    });

    test('an unknown token answers 403, a missing one 400', async () => {
      const unknown = await v4.verify('not-a-runner', 's_1');
      assert.equal(unknown.status, 403);
      assert.deepEqual(unknown.json, { message: '403 Forbidden' });
      const missing = await v4.call('POST', '/api/v4/runners/verify', { system_id: 's_1' });
      assert.equal(missing.status, 400);
      assert.match((missing.json as { message: string }).message, /"token" not given/);
    });
  });

  describe('one API per runner token', () => {
    test('a v1 runner token opens nothing under /api/v4, and a v4 token nothing under /ci/api/v1', async () => {
      const v1Runner = await v1.registerRunner({ token: registrationToken() });
      const v4Runner = await v4.registerRunner({ token: registrationToken() });
      assert.equal((await v4.verify(v1Runner.token, 's_1')).status, 403);
      assert.equal((await v4.unregister(v1Runner.token)).status, 403);
      assert.equal((await v4.unregisterManager(v1Runner.token, 's_1')).status, 403);
      assert.deepEqual(await managers(v1Runner.id), []);

      const v1Delete = await v1.request('DELETE', '/ci/api/v1/runners/delete', { token: v4Runner.token });
      assert.equal(v1Delete.status, 403);
      const v1Request = await v1.requestBuild(v4Runner.token);
      assert.equal(v1Request.status, 403);
      const v1Update = await v1.updateBuild(-1, { token: v4Runner.token });
      assert.equal(v1Update.status, 403);
      assert.ok(await runnerRow(v1Runner.id));
      assert.ok(await runnerRow(v4Runner.id));
    });
  });

  describe('DELETE /api/v4/runners and /api/v4/runners/managers', () => {
    test('unregistering answers 204 with no body; the token is dead afterwards', async () => {
      const runner = await v4.registerRunner({ token: registrationToken() });
      await v4.verify(runner.token, 's_gone');
      const reply = await v4.unregister(runner.token);
      assert.equal(reply.status, 204);
      assert.equal(reply.body.length, 0);
      assert.equal(await runnerRow(runner.id), undefined);
      assert.deepEqual(await managers(runner.id), []);
      assert.equal((await v4.unregister(runner.token)).status, 403);
      assert.equal((await v4.verify(runner.token)).status, 403);
    });

    test('unregistering a manager removes only that host; the runner and its other managers stay', async () => {
      const runner = await v4.registerRunner({ token: registrationToken() });
      await v4.verify(runner.token, 's_one');
      await v4.verify(runner.token, 's_two');
      const reply = await v4.unregisterManager(runner.token, 's_one');
      assert.equal(reply.status, 204);
      assert.equal(reply.body.length, 0);
      assert.deepEqual(await managers(runner.id), ['s_two']);
      assert.ok(await runnerRow(runner.id));
      const again = await v4.unregisterManager(runner.token, 's_one');
      assert.equal(again.status, 404);
      assert.deepEqual(again.json, { message: '404 Not Found' });
      assert.equal((await v4.unregisterManager('not-a-runner', 's_two')).status, 403);
      const noSystem = await v4.call('DELETE', '/api/v4/runners/managers', { token: runner.token });
      assert.equal(noSystem.status, 400);
      assert.match((noSystem.json as { message: string }).message, /"system_id" not given/);
      const blank = await v4.unregisterManager(runner.token, ' ');
      assert.equal(blank.status, 400);
      assert.deepEqual(await managers(runner.id), ['s_two']);
    });

    test('a missing token answers 400', async () => {
      const reply = await v4.call('DELETE', '/api/v4/runners', {});
      assert.equal(reply.status, 400);
      assert.match((reply.json as { message: string }).message, /"token" not given/);
    });
  });

  describe('POST /api/v4/user/runners: authentication tokens (glrt-)', () => {
    test('an instance runner gets a glrt- token that verify accepts, as `gitlab-runner register --token` needs', async () => {
      const reply = await api.request<RunnerAuthentication>('POST', '/api/v4/user/runners', {
        runner_type: 'instance_type',
        description: 'made by the admin',
        tag_list: ['docker'],
        run_untagged: false,
        paused: false,
        access_level: 'not_protected',
        maximum_timeout: 7200,
      });
      assert.equal(reply.status, 201);
      assert.deepEqual(Object.keys(reply.body).sort(), ['id', 'token', 'token_expires_at']);
      assert.match(reply.body.token, /^glrt-[0-9a-f]{30}$/);
      assert.equal(reply.body.token_expires_at, null);
      const row = await runnerRow(reply.body.id);
      assert.equal(row.api_version, 'v4');
      assert.equal(row.registration_type, 'authenticated_user');
      assert.equal(Boolean(row.is_shared), true);
      assert.deepEqual(JSON.parse(row.tag_list), ['docker']);
      assert.equal(Number(row.maximum_timeout), 7200);

      // register --token: verify with the host's system_id (id must be non-zero), then unregister via managers.
      const verified = await v4.verify(reply.body.token, 's_fedcba987654');
      assert.equal(verified.status, 200);
      assert.deepEqual(verified.json, { id: reply.body.id, token: reply.body.token, token_expires_at: null });
      assert.deepEqual(await managers(reply.body.id), ['s_fedcba987654']);
      assert.equal((await v4.unregisterManager(reply.body.token, 's_fedcba987654')).status, 204);
      assert.deepEqual(await managers(reply.body.id), []);
      // A glrt- token is not a registration token.
      assert.equal((await v4.register({ token: reply.body.token })).status, 403);
    });

    test('a project runner belongs to its project', async () => {
      const project = await api.createProject();
      const reply = await api.request<RunnerAuthentication>('POST', '/api/v4/user/runners', { runner_type: 'project_type', project_id: project.id });
      assert.equal(reply.status, 201);
      const links = await coordinator.db('runner_projects').where({ runner_id: reply.body.id });
      assert.deepEqual(links.map((link) => Number(link.project_id)), [project.id]);
    });

    test('refusals: 400 for bad settings, 404 for an unknown project, 401 without a token, 403 for the viewer; nothing stored', async () => {
      const before = await runnerCount();
      const cases: [unknown, number, RegExp][] = [
        [{}, 400, /"runner_type" not given/],
        [{ runner_type: 'group_type', group_id: 1 }, 400, /no groups/],
        [{ runner_type: 'project_type' }, 400, /"project_id" not given/],
        [{ runner_type: 'instance_type', project_id: 1 }, 400, /only for project_type/],
        [{ runner_type: 'instance_type', run_untagged: false }, 400, /tags_list can not be empty/],
        [{ runner_type: 'instance_type', maximum_timeout: 60 }, 400, /at least 10 minutes/],
        [{ runner_type: 'instance_type', tag_list: 'docker' }, 400, /tag_list/],
        [{ runner_type: 'project_type', project_id: 999999 }, 404, /Project Not Found/],
      ];
      for (const [body, status, message] of cases) {
        const reply = await api.request<{ message: string }>('POST', '/api/v4/user/runners', body);
        assert.equal(reply.status, status, JSON.stringify(body));
        assert.match(reply.body.message, message, JSON.stringify(body));
      }
      const anonymous = await api.request('POST', '/api/v4/user/runners', { runner_type: 'instance_type' }, { 'PRIVATE-TOKEN': 'wrong' });
      assert.equal(anonymous.status, 401);
      const viewer = await api.request<{ message: string }>('POST', '/api/v4/user/runners', { runner_type: 'instance_type' }, { 'PRIVATE-TOKEN': VIEWER_TOKEN });
      assert.equal(viewer.status, 403);
      assert.equal(await runnerCount(), before);
    });
  });

  describe('GET /api/v4/runners and job listings', () => {
    test("lists the caller's specific runners with their API, filtered by type, paused, status and tags", async () => {
      const fresh = await startTestCoordinator();
      try {
        const userApi = new UserApi(fresh.url, fresh.adminToken);
        const freshV4 = new RunnerV4Api(fresh.url);
        const freshV1 = new RunnerApi(fresh.url);
        const project = await userApi.createProject({ ci_config: FACTORY_CONFIG });
        const shared = await freshV4.registerRunner({ token: fresh.registrationToken });
        const docker = await freshV4.registerRunner({ token: project.runners_token, tag_list: 'docker', description: 'docker' });
        const paused = await freshV4.registerRunner({ token: project.runners_token, paused: true, description: 'paused' });
        const old = await freshV1.registerRunner({ token: project.runners_token, description: 'v1' });
        await freshV1.requestBuild(old.token); // contact: online

        const list = async (query = '') => {
          const reply = await userApi.request<{ id: number; api_version: string; runner_type: string; paused: boolean; status: string }[]>('GET', `/api/v4/runners${query}`);
          assert.equal(reply.status, 200, reply.text);
          return reply;
        };
        const all = await list();
        assert.deepEqual(all.body.map((runner) => runner.id), [docker.id, paused.id, old.id]);
        assert.equal(all.headers.get('x-total'), '3');
        assert.deepEqual(all.body.map((runner) => [runner.api_version, runner.runner_type, runner.paused]), [
          ['v4', 'project_type', false],
          ['v4', 'project_type', true],
          ['v1', 'project_type', false],
        ]);
        assert.ok(!all.body.some((runner) => runner.id === shared.id));
        assert.deepEqual((await list('?paused=true')).body.map((runner) => runner.id), [paused.id]);
        assert.deepEqual((await list('?paused=false&status=online')).body.map((runner) => runner.id), [old.id]);
        assert.deepEqual((await list('?status=never_contacted')).body.map((runner) => runner.id), [docker.id, paused.id]);
        assert.deepEqual((await list('?status=offline')).body, []);
        assert.deepEqual((await list('?tag_list=docker')).body.map((runner) => runner.id), [docker.id]);
        assert.deepEqual((await list('?type=project_type&per_page=1')).body.map((runner) => runner.id), [docker.id]);
        assert.deepEqual((await list('?type=instance_type')).body, []);
        assert.equal((await userApi.request('GET', '/api/v4/runners?type=nope')).status, 400);
        assert.equal((await userApi.request('GET', '/api/v4/runners', undefined, { 'PRIVATE-TOKEN': 'wrong' })).status, 401);

        // Runner details and the admin listing say which API a runner speaks too.
        const details = await userApi.request<{ api_version: string; access_level: string; maximum_timeout: number | null }>('GET', `/api/v4/runners/${docker.id}`);
        assert.equal(details.body.api_version, 'v4');
        assert.equal(details.body.access_level, 'not_protected');
        assert.equal(details.body.maximum_timeout, null);
        const everyone = await userApi.request<{ id: number; api_version: string }[]>('GET', '/api/v4/runners/all');
        assert.deepEqual(everyone.body.find((runner) => runner.id === shared.id)?.api_version, 'v4');
      } finally {
        await fresh.stop();
      }
    });

    test("a job's runner says which API it speaks", async () => {
      const project = await api.createProject({ ci_config: FACTORY_CONFIG, shared_runners_enabled: false });
      const runner = await v1.registerRunner({ token: project.runners_token });
      const pipeline = await api.createPipeline(project.id, { ci_config: FACTORY_CONFIG });
      const build = await v1.takeBuild(runner.token);
      const jobs = await api.request<{ id: number; runner: { id: number; api_version: string } | null }[]>('GET', `/api/v4/projects/${project.id}/pipelines/${pipeline.id}/jobs`);
      assert.deepEqual(jobs.body.find((job) => job.id === build.id)?.runner, { id: runner.id, description: null, api_version: 'v1' });
    });
  });
});
