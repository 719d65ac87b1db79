// Runner administration through /api/v4 (GitLab 8.x's runners API): details and status, the
// listing's scopes, tag filter and pagination, updates, deletion, and project assignment.
// What these settings do to the queue is in scheduling.test.ts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { pick, RunnerAdminApi } from './support/runnerAdminApi.js';
import { RunnerApi } from './support/runnerApi.js';
import { RunnerSimulator } from './support/runnerSimulator.js';
import { ManualClock } from './support/runningBuilds.js';
import { UserApi } from './support/userApi.js';

const NOT_FOUND = { message: '404 Not Found' };

describe('runner administration', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let admin: RunnerAdminApi;
  let runners: RunnerApi;
  const clock = new ManualClock();
  before(async () => {
    coordinator = await startTestCoordinator({}, clock);
    api = new UserApi(coordinator.url, coordinator.adminToken);
    admin = new RunnerAdminApi(api);
    runners = new RunnerApi(coordinator.url);
  });
  after(() => coordinator.stop());

  /** A project and a specific runner of it, registered as a runner does. */
  async function specificRunner(fields: Record<string, unknown> = {}, projectName = 'diaspora') {
    const project = await api.createProject({ name: projectName });
    const runner = await runners.registerRunner({ token: project.runners_token, ...fields });
    return { project, runner };
  }

  describe('GET /runners/:id', () => {
    test('shows settings, registration info, projects; never contacted yet', async () => {
      const { project, runner } = await specificRunner({
        description: 'e2e-runner',
        tag_list: 'ruby, docker ,ruby',
        info: { name: 'gitlab-ci-multi-runner', version: '1.11.5', revision: 'cbfcb5c8', platform: 'linux', architecture: 'amd64' },
      });
      const reply = await admin.get(runner.id);
      assert.equal(reply.status, 200);
      assert.equal(reply.headers.get('content-type'), 'application/json');
      assert.deepEqual(reply.body, {
        id: runner.id,
        description: 'e2e-runner',
        active: true,
        paused: false,
        is_shared: false,
        runner_type: 'project_type',
        api_version: 'v1',
        name: 'gitlab-ci-multi-runner',
        online: false,
        status: 'not_connected',
        tag_list: ['docker', 'ruby'],
        run_untagged: true,
        locked: false,
        access_level: 'not_protected',
        maximum_timeout: null,
        maintenance_note: null,
        version: '1.11.5',
        revision: 'cbfcb5c8',
        platform: 'linux',
        architecture: 'amd64',
        contacted_at: null,
        projects: [{ id: project.id, name: 'diaspora' }],
      });
    });

    test('a shared runner has no projects; info left out is null', async () => {
      const runner = await runners.registerRunner({ token: coordinator.registrationToken, run_untagged: false, tag_list: ['linux'], locked: true });
      const details = await admin.details(runner.id);
      assert.equal(details.is_shared, true);
      assert.equal(details.locked, true);
      assert.equal(details.run_untagged, false);
      assert.deepEqual(details.tag_list, ['linux']);
      assert.deepEqual(details.projects, []);
      assert.equal(details.description, null);
      assert.equal(details.name, null);
      assert.equal(details.version, null);
    });

    test('status: online after a poll, paused when not active, offline after an hour without contact', async () => {
      const { runner } = await specificRunner();
      await runners.requestBuild(runner.token);
      assert.deepEqual(pick(await admin.details(runner.id), 'online', 'status'), { online: true, status: 'online' });
      await admin.set(runner.id, { active: false });
      assert.deepEqual(pick(await admin.details(runner.id), 'online', 'status', 'active'), { online: true, status: 'paused', active: false });
      await admin.set(runner.id, { active: true });
      clock.advance(60 * 60 * 1000 + 1);
      assert.deepEqual(pick(await admin.details(runner.id), 'online', 'status'), { online: false, status: 'offline' });
    });

    test('unknown runner → 404; no PRIVATE-TOKEN → 401', async () => {
      const reply = await admin.get(999_999);
      assert.equal(reply.status, 404);
      assert.deepEqual(reply.body, NOT_FOUND);
      const bare = await fetch(`${coordinator.url}/api/v4/runners/1`);
      assert.equal(bare.status, 401);
      assert.equal((await api.request('GET', '/api/v4/runners/abc')).status, 400);
    });
  });

  describe('PUT /runners/:id', () => {
    test('changes description, active, tags (string or array), run_untagged and locked', async () => {
      const { runner } = await specificRunner({ description: 'before', tag_list: 'old' });
      let details = await admin.set(runner.id, { description: 'after', tag_list: ' ruby, docker,,ruby ', run_untagged: false, locked: true, active: false });
      assert.deepEqual(pick(details, 'description', 'tag_list', 'run_untagged', 'locked', 'active', 'status'), {
        description: 'after',
        tag_list: ['docker', 'ruby'],
        run_untagged: false,
        locked: true,
        active: false,
        status: 'paused',
      });
      details = await admin.set(runner.id, { tag_list: ['z', ' a ', 'z'] });
      assert.deepEqual(details.tag_list, ['a', 'z']);
      assert.equal(details.description, 'after', 'fields not sent stay as they were');
      assert.deepEqual(await admin.details(runner.id), details);
    });

    test('a runner left with no tags and run_untagged false is invalid → 400, unchanged', async () => {
      const { runner } = await specificRunner({ tag_list: 'docker' });
      const cases: Record<string, unknown>[] = [
        { tag_list: [], run_untagged: false },
        { tag_list: ' , ', run_untagged: false },
      ];
      for (const fields of cases) {
        const reply = await admin.update(runner.id, fields);
        assert.equal(reply.status, 400, JSON.stringify(fields));
        assert.match((reply.body as unknown as { message: string }).message, /^400 Bad request - tag_list can not be empty when runner is not allowed to pick untagged jobs$/);
      }
      // Each half alone is valid against what is stored; together with it, not.
      await admin.set(runner.id, { run_untagged: false });
      assert.equal((await admin.update(runner.id, { tag_list: '' })).status, 400);
      await admin.set(runner.id, { run_untagged: true, tag_list: [] });
      assert.equal((await admin.update(runner.id, { run_untagged: false })).status, 400);
      const details = await admin.details(runner.id);
      assert.deepEqual(pick(details, 'tag_list', 'run_untagged'), { tag_list: [], run_untagged: true });
    });

    test('bad bodies → 400; unknown runner → 404', async () => {
      const { runner } = await specificRunner();
      for (const body of [{}, { active: 'maybe' }, { tag_list: 5 }, { token: 'x' }, { locked: null }]) {
        const reply = await admin.update(runner.id, body);
        assert.equal(reply.status, 400, JSON.stringify(body));
        assert.equal(typeof (reply.body as unknown as { message: string }).message, 'string');
      }
      const unknown = await admin.update(999_999, { active: false });
      assert.equal(unknown.status, 404);
      assert.deepEqual(unknown.body, NOT_FOUND);
    });
  });

  describe('DELETE /runners/:id', () => {
    test('204; the token stops working at once (register 403, verify says removed); again → 404', async () => {
      const project = await api.createProject();
      const simulated = await RunnerSimulator.register(coordinator.url, project.runners_token, { runUntagged: true });
      try {
        const runnerId = Number(simulated.registration?.id);
        assert.equal(await simulated.verify(), true);
        const reply = await admin.delete(runnerId);
        assert.equal(reply.status, 204);
        assert.equal(reply.text, '');
        assert.equal((await runners.requestBuild(simulated.token)).status, 403);
        assert.equal((await runners.updateBuild(-1, { token: simulated.token })).status, 403);
        assert.equal(await simulated.verify(), false);
        assert.equal((await admin.get(runnerId)).status, 404);
        const again = await admin.delete(runnerId);
        assert.equal(again.status, 404);
        assert.deepEqual(again.body, NOT_FOUND);
      } finally {
        simulated.close();
      }
    });

    test("the builds it ran keep their history", async () => {
      const { project, runner } = await specificRunner();
      const pipeline = await api.createPipeline(project.id, { ci_config: 'rspec:\n  script: rspec\n' });
      const build = await runners.takeBuild(runner.token);
      assert.equal((await admin.delete(runner.id)).status, 204);
      const [job] = await api.listJobs(project.id, pipeline.id);
      assert.equal(job?.id, build.id);
      assert.equal(job?.runner, null);
    });
  });

  describe('POST /projects/:id/runners and DELETE /projects/:id/runners/:runner_id', () => {
    test('assigns a specific runner to another project (201 Runner), then removes it (204)', async () => {
      const { project, runner } = await specificRunner({ description: 'shared-by-two' }, 'first');
      const second = await api.createProject({ name: 'second' });
      const reply = await admin.assign(second.id, runner.id);
      assert.equal(reply.status, 201);
      assert.equal(reply.headers.get('content-type'), 'application/json');
      assert.deepEqual(reply.body, {
        id: runner.id,
        description: 'shared-by-two',
        active: true,
        paused: false,
        is_shared: false,
        runner_type: 'project_type',
        api_version: 'v1',
        name: null,
        online: false,
        status: 'not_connected',
      });
      assert.deepEqual((await admin.details(runner.id)).projects, [
        { id: project.id, name: 'first' },
        { id: second.id, name: 'second' },
      ]);
      const removed = await admin.unassign(project.id, runner.id);
      assert.equal(removed.status, 204);
      assert.equal(removed.text, '');
      assert.deepEqual((await admin.details(runner.id)).projects, [{ id: second.id, name: 'second' }]);
    });

    test('refused with a reason: already assigned, shared, locked', async () => {
      const { project, runner } = await specificRunner();
      const already = await admin.assign(project.id, runner.id);
      assert.equal(already.status, 400);
      assert.deepEqual(already.body, { message: '400 Bad request - Runner was already enabled for this project' });

      const other = await api.createProject();
      const shared = await runners.registerRunner({ token: coordinator.registrationToken });
      const sharedReply = await admin.assign(other.id, shared.id);
      assert.equal(sharedReply.status, 400);
      assert.match((sharedReply.body as unknown as { message: string }).message, /shared/);

      const { runner: locked } = await specificRunner({ locked: true });
      const lockedReply = await admin.assign(other.id, locked.id);
      assert.equal(lockedReply.status, 400);
      assert.match((lockedReply.body as unknown as { message: string }).message, /locked/);
      // Locking later through the API has the same effect.
      await admin.set(runner.id, { locked: true });
      assert.equal((await admin.assign(other.id, runner.id)).status, 400);
      await admin.set(runner.id, { locked: false });
      assert.equal((await admin.assign(other.id, runner.id)).status, 201);
      assert.deepEqual((await admin.details(shared.id)).projects, []);
    });

    test("the runner's last project can't be removed; not assigned → 404", async () => {
      const { project, runner } = await specificRunner();
      const last = await admin.unassign(project.id, runner.id);
      assert.equal(last.status, 400);
      assert.deepEqual(last.body, { message: '400 Bad request - Only one project associated with the runner. Please remove the runner instead' });
      const other = await api.createProject();
      const notAssigned = await admin.unassign(other.id, runner.id);
      assert.equal(notAssigned.status, 404);
      assert.deepEqual(notAssigned.body, NOT_FOUND);
    });

    test('two removals at once leave the runner at least one project', async () => {
      const { project, runner } = await specificRunner();
      const second = await api.createProject();
      assert.equal((await admin.assign(second.id, runner.id)).status, 201);
      const statuses = (await Promise.all([admin.unassign(project.id, runner.id), admin.unassign(second.id, runner.id)])).map((r) => r.status);
      assert.deepEqual(statuses.sort(), [204, 400]);
      assert.equal((await admin.details(runner.id)).projects.length, 1);
    });

    test('a deleted project leaves the runner details at once, and cannot be assigned or unassigned', async () => {
      const { project, runner } = await specificRunner({}, 'kept');
      const doomed = await api.createProject({ name: 'doomed' });
      assert.equal((await admin.assign(doomed.id, runner.id)).status, 201);
      assert.equal((await api.request('DELETE', `/api/v4/projects/${doomed.id}`)).status, 202);
      assert.deepEqual((await admin.details(runner.id)).projects, [{ id: project.id, name: 'kept' }]);
      assert.equal((await admin.unassign(doomed.id, runner.id)).status, 404);
      const { runner: other } = await specificRunner();
      assert.equal((await admin.assign(doomed.id, other.id)).status, 404);
    });

    test('unknown runner or project → 404; bad bodies → 400', async () => {
      const { project, runner } = await specificRunner();
      for (const reply of [
        await admin.assign(project.id, 999_999),
        await admin.assign(999_999, runner.id),
        await admin.unassign(999_999, runner.id),
        await admin.unassign(project.id, 999_999),
      ]) {
        assert.equal(reply.status, 404, reply.text);
        assert.deepEqual(reply.body, NOT_FOUND);
      }
      for (const body of [{}, { runner_id: 'one' }, { runner_id: 0 }, { runner_id: runner.id, extra: 1 }]) {
        const reply = await api.request('POST', `/api/v4/projects/${project.id}/runners`, body);
        assert.equal(reply.status, 400, JSON.stringify(body));
      }
    });
  });
});

describe('GET /runners/all', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let admin: RunnerAdminApi;
  let runners: RunnerApi;
  const clock = new ManualClock();
  const registered: Record<string, { id: number; token: string }> = {};
  // Its own coordinator: the listing shows every runner there is.
  before(async () => {
    coordinator = await startTestCoordinator({}, clock);
    api = new UserApi(coordinator.url, coordinator.adminToken);
    admin = new RunnerAdminApi(api);
    runners = new RunnerApi(coordinator.url);
    const project = await api.createProject();
    const register = async (name: string, fields: Record<string, unknown>) => {
      registered[name] = await runners.registerRunner({ description: name, ...fields });
    };
    await register('shared-docker', { token: coordinator.registrationToken, tag_list: 'docker,linux' });
    await register('shared-old', { token: coordinator.registrationToken, tag_list: 'docker' });
    await register('specific-linux', { token: project.runners_token, tag_list: 'linux' });
    await register('specific-paused', { token: project.runners_token, tag_list: 'docker,linux,ruby' });
    await register('specific-new', { token: project.runners_token });
    // shared-old made contact long ago, shared-docker and specific-linux just now.
    await runners.requestBuild(runnerOf('shared-old').token);
    clock.advance(2 * 60 * 60 * 1000);
    await runners.requestBuild(runnerOf('shared-docker').token);
    await runners.requestBuild(runnerOf('specific-linux').token);
    await admin.set(runnerOf('specific-paused').id, { active: false });
  });
  after(() => coordinator.stop());

  const runnerOf = (name: string) => registered[name] ?? assert.fail(`no runner ${name}`);
  const names = async (query: string) => {
    const reply = await admin.list(query);
    assert.equal(reply.status, 200, reply.text);
    return reply.body.map((runner) => runner.description);
  };

  test('every runner by id, with status', async () => {
    const reply = await admin.list();
    assert.equal(reply.headers.get('content-type'), 'application/json');
    assert.deepEqual(
      reply.body.map((runner) => [runner.description, runner.is_shared, runner.active, runner.online, runner.status]),
      [
        ['shared-docker', true, true, true, 'online'],
        ['shared-old', true, true, false, 'offline'],
        ['specific-linux', false, true, true, 'online'],
        ['specific-paused', false, false, false, 'paused'],
        ['specific-new', false, true, false, 'not_connected'],
      ],
    );
    assert.deepEqual(Object.keys(reply.body[0] ?? {}).sort(), ['active', 'api_version', 'description', 'id', 'is_shared', 'name', 'online', 'paused', 'runner_type', 'status']);
  });

  test('scope', async () => {
    assert.deepEqual(await names('?scope=active'), ['shared-docker', 'shared-old', 'specific-linux', 'specific-new']);
    assert.deepEqual(await names('?scope=paused'), ['specific-paused']);
    assert.deepEqual(await names('?scope=online'), ['shared-docker', 'specific-linux']);
    assert.deepEqual(await names('?scope=specific'), ['specific-linux', 'specific-paused', 'specific-new']);
    assert.deepEqual(await names('?scope=shared'), ['shared-docker', 'shared-old']);
    const bad = await admin.list('?scope=everything');
    assert.equal(bad.status, 400);
  });

  test('tag_list: runners that have all of the tags, combined with scope', async () => {
    assert.deepEqual(await names('?tag_list=docker'), ['shared-docker', 'shared-old', 'specific-paused']);
    assert.deepEqual(await names('?tag_list=linux,docker'), ['shared-docker', 'specific-paused']);
    assert.deepEqual(await names('?tag_list=%20docker%20,%20ruby'), ['specific-paused']);
    assert.deepEqual(await names('?tag_list=Docker'), [], 'tags are case-sensitive');
    assert.deepEqual(await names('?tag_list=dock'), []);
    assert.deepEqual(await names('?tag_list=docker&scope=active'), ['shared-docker', 'shared-old']);
    assert.deepEqual(await names('?tag_list='), await names(''));
  });

  test('pagination: page and per_page, with GitLab headers', async () => {
    const reply = await admin.list('?per_page=2&page=2');
    assert.equal(reply.status, 200);
    assert.deepEqual(reply.body.map((runner) => runner.description), ['specific-linux', 'specific-paused']);
    assert.equal(reply.headers.get('x-total'), '5');
    assert.equal(reply.headers.get('x-total-pages'), '3');
    assert.equal(reply.headers.get('x-per-page'), '2');
    assert.equal(reply.headers.get('x-page'), '2');
    assert.equal(reply.headers.get('x-next-page'), '3');
    assert.equal(reply.headers.get('x-prev-page'), '1');
    const link = reply.headers.get('link') ?? '';
    assert.match(link, /<[^>]*\/api\/v4\/runners\/all\?[^>]*page=3[^>]*>; rel="next"/);
    assert.match(link, /rel="first"/);
    assert.match(link, /rel="last"/);

    const filtered = await admin.list('?scope=specific&per_page=2&page=2');
    assert.equal(filtered.headers.get('x-total'), '3');
    assert.deepEqual(filtered.body.map((runner) => runner.description), ['specific-new']);
    assert.equal(filtered.headers.get('x-next-page'), '');

    const beyond = await admin.list('?page=9');
    assert.equal(beyond.status, 200);
    assert.deepEqual(beyond.body, []);
    for (const query of ['?per_page=0', '?per_page=101', '?page=0', '?page=x']) {
      assert.equal((await admin.list(query)).status, 400, query);
    }
  });
});
