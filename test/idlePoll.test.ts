// The idle poll (issue 7): a builds/register that finds nothing new costs no database work:
// the runner is known in memory, its queue version says nothing was queued for it since its
// last empty scan, and its contact is written in batches. Every query the server sends is
// seen through knex's 'query' event on the server's own database handle.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { RunnerAdminApi } from './support/runnerAdminApi.js';
import { RunnerApi, type BuildDetails, type RawReply } from './support/runnerApi.js';
import { UserApi } from './support/userApi.js';
import { V4Api } from './support/v4Api.js';
import { registerTestRunner } from './support/v4Runners.js';

const LAST_UPDATE = 'x-gitlab-last-update';

function jobs(...names: string[]): string {
  return names.map((name) => `${name}:\n  script: make ${name}\n`).join('');
}

describe('idle polls', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let admin: RunnerAdminApi;
  let runners: RunnerApi;
  const queries: string[] = [];
  before(async () => {
    coordinator = await startTestCoordinator();
    api = new UserApi(coordinator.url, coordinator.adminToken);
    admin = new RunnerAdminApi(api);
    runners = new RunnerApi(coordinator.url);
    coordinator.db.on('query', (query: { sql: string }) => queries.push(query.sql));
  });
  after(async () => {
    await coordinator.stop();
  });

  /** The SQL the server sends while `work` runs. */
  async function queriesDuring(work: () => Promise<unknown>): Promise<string[]> {
    const start = queries.length;
    await work();
    return queries.slice(start);
  }

  function noBuild(reply: RawReply): string {
    assert.equal(reply.status, 204, reply.text);
    const version = reply.headers[LAST_UPDATE];
    assert.equal(typeof version, 'string');
    return version as string;
  }

  async function projectAndRunner(fields: Record<string, unknown> = {}) {
    const project = await api.createProject();
    const runner = await runners.registerRunner({ token: project.runners_token, ...fields });
    return { project, runner };
  }

  test('after one empty scan, polls with or without last_update send no query at all until a build is queued for the runner', async () => {
    const { project, runner } = await projectAndRunner();
    const version = noBuild(await runners.requestBuild(runner.token));
    const idle = await queriesDuring(async () => {
      for (let i = 0; i < 20; i += 1) {
        assert.equal(noBuild(await runners.requestBuild(runner.token)), version);
        assert.equal(noBuild(await runners.request('POST', '/ci/api/v1/builds/register.json', { token: runner.token, last_update: version }, { 'User-Agent': 'gitlab-ci-multi-runner 1.11.5 (linux)' })), version);
      }
    });
    assert.deepEqual(idle, []);

    await api.createPipeline(project.id, { ci_config: jobs('queued') });
    const reply = await runners.requestBuild(runner.token);
    assert.equal(reply.status, 201, reply.text);
    assert.equal((reply.json as BuildDetails).name, 'queued');
    assert.equal(reply.headers[LAST_UPDATE], undefined, 'a build carries no queue version');
    // Having got a build it looks again next time (there may be more), then is idle again.
    const after = noBuild(await runners.requestBuild(runner.token));
    assert.notEqual(after, version);
    assert.deepEqual(await queriesDuring(() => runners.requestBuild(runner.token)), []);
  });

  test("a build queued for other runners (another project, tags it lacks) leaves this runner's version alone", async () => {
    const { runner } = await projectAndRunner({ tag_list: 'linux', run_untagged: false });
    const version = noBuild(await runners.requestBuild(runner.token));
    const { project: other } = await projectAndRunner();
    await api.createPipeline(other.id, { ci_config: jobs('theirs') });
    const own = await api.createProject();
    await admin.assign(own.id, runner.id);
    // The assignment changed the runner: it reads itself again and scans once.
    const rescanned = noBuild(await runners.requestBuild(runner.token));
    await api.createPipeline(own.id, { ci_config: 'mac:\n  script: m\n  tags: [mac]\n' });
    assert.equal(noBuild(await runners.requestBuild(runner.token)), rescanned);
    assert.notEqual(rescanned, version);
  });

  test('a foreign last_update (another process, an earlier start) is not trusted, and not needed: the server remembers the empty scan', async () => {
    const { runner } = await projectAndRunner();
    const version = noBuild(await runners.requestBuild(runner.token));
    const looked = await queriesDuring(async () => {
      const reply = await runners.request('POST', '/ci/api/v1/builds/register.json', { token: runner.token, last_update: `${version}0` }, { 'User-Agent': 'gitlab-ci-multi-runner 1.11.5 (linux)' });
      assert.equal(reply.status, 204);
    });
    // The server still knows this runner's scan found nothing at its version: no query either way.
    assert.deepEqual(looked, []);
  });

  test('a runner paused or deleted is refused at once, though it was known in memory', async () => {
    const { runner: paused } = await projectAndRunner();
    const { runner: deleted } = await projectAndRunner();
    noBuild(await runners.requestBuild(paused.token));
    noBuild(await runners.requestBuild(deleted.token));
    await admin.set(paused.id, { active: false });
    assert.equal((await runners.requestBuild(paused.token)).status, 404);
    assert.equal((await admin.delete(deleted.id)).status, 204);
    assert.equal((await runners.requestBuild(deleted.token)).status, 403);
    await admin.set(paused.id, { active: true });
    noBuild(await runners.requestBuild(paused.token));
    const unregistered = await projectAndRunner();
    noBuild(await runners.requestBuild(unregistered.runner.token));
    assert.equal((await runners.request('DELETE', '/ci/api/v1/runners/delete', { token: unregistered.runner.token })).status, 200);
    assert.equal((await runners.requestBuild(unregistered.runner.token)).status, 403);
  });

  test('runner contacts of polls arriving together are written in one transaction, and only once a minute per runner', async () => {
    const registered: { id: number; token: string }[] = [];
    for (let i = 0; i < 10; i += 1) registered.push((await projectAndRunner()).runner);
    const polling = await queriesDuring(async () => {
      for (let round = 0; round < 3; round += 1) {
        await Promise.all(registered.map((runner) => runners.requestBuild(runner.token, { info: { version: '1.11.5' } })));
      }
    });
    const contactWrites = polling.filter((sql) => /^update\s+.runners/i.test(sql));
    assert.equal(contactWrites.length, registered.length, 'one write per runner, for its first poll only');
    // The transactions that wrote contacts (on PostgreSQL every scan is a transaction too).
    let transactions = 0;
    let counted = false;
    for (const sql of polling) {
      if (/^begin/i.test(sql)) counted = false;
      else if (/^update\s+.runners/i.test(sql) && !counted) {
        counted = true;
        transactions += 1;
      }
    }
    assert.ok(transactions < registered.length, `${transactions} transactions for ${registered.length} first contacts`);
    for (const runner of registered) assert.equal((await admin.details(runner.id)).version, '1.11.5');
  });

  test('v4 jobs/request: 204 with X-GitLab-Last-Update, idle polls without a query (system_id recorded once a minute), a new job found at once', async () => {
    const v4 = new V4Api(coordinator.url);
    const project = await api.createProject();
    const runner = await registerTestRunner(coordinator.url, project.runners_token, { run_untagged: true });
    const first = await v4.requestJob(runner.token, { system_id: 's_0123456789ab' });
    const version = noBuild(first);
    const idle = await queriesDuring(async () => {
      for (let i = 0; i < 10; i += 1) {
        assert.equal(noBuild(await v4.requestJob(runner.token, { last_update: version, system_id: 's_0123456789ab' })), version);
      }
    });
    assert.deepEqual(idle, []);
    await api.createPipeline(project.id, { ci_config: jobs('v4-job') });
    const reply = await v4.requestJob(runner.token, { last_update: version });
    assert.equal(reply.status, 201, reply.text);
  });
});
