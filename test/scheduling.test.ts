// Who gets which build (gitlab-ci-api-v1.md §3), driven only through the user API and the runner
// API: runners are paused, retagged, locked and assigned to projects through the admin endpoints.
//
// The fairness sequence of §3.1 (p1b1, p2b1, p3b1, p1b2, p2b2, p1b3) and its "p1b1 finishes
// first → p1 first again" variant are in buildRegister.test.ts ("X4: ..."), as are GitLab's own
// cases R9–R16 and R24–R30; the fairness case here extends them to two shared runners and ties.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { pick, RunnerAdminApi } from './support/runnerAdminApi.js';
import { GO_UA, RunnerApi, RUNNER_UA, type BuildDetails } from './support/runnerApi.js';
import { ManualClock } from './support/runningBuilds.js';
import { UserApi } from './support/userApi.js';
import type { components } from '../src/generated/api.js';

type Schemas = components['schemas'];

/** One job per name, all in the first stage, so every one is pending at once. */
function jobs(...names: string[]): string {
  return names.map((name) => `${name}:\n  script: make ${name}\n`).join('');
}

function taggedJob(name: string, tags: string[]): string {
  return `${name}:\n  script: make\n${tags.length > 0 ? `  tags: [${tags.join(', ')}]\n` : ''}`;
}

interface Harness {
  coordinator: TestCoordinator;
  api: UserApi;
  admin: RunnerAdminApi;
  runners: RunnerApi;
}

async function startHarness(clock?: ManualClock): Promise<Harness> {
  const coordinator = await startTestCoordinator({}, clock);
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  return { coordinator, api, admin: new RunnerAdminApi(api), runners: new RunnerApi(coordinator.url) };
}

/** The name of the build the runner gets, or null for "no build" (204). */
async function nextBuild(runners: RunnerApi, token: string): Promise<string | null> {
  const reply = await runners.requestBuild(token);
  if (reply.status === 204) return null;
  assert.equal(reply.status, 201, reply.text);
  return (reply.json as BuildDetails).name;
}

async function takeAll(runners: RunnerApi, token: string): Promise<string[]> {
  const names: string[] = [];
  for (let name = await nextBuild(runners, token); name !== null; name = await nextBuild(runners, token)) names.push(name);
  return names;
}

// No shared runner is ever registered here, so projects' pending builds cannot leak between tests.
describe('specific runners, tags, pause and contact', () => {
  let h: Harness;
  const clock = new ManualClock();
  before(async () => {
    h = await startHarness(clock);
  });
  after(() => h.coordinator.stop());

  async function projectWith(ciConfig: string, name = 'project'): Promise<Schemas['Project']> {
    const project = await h.api.createProject({ name });
    await h.api.createPipeline(project.id, { ci_config: ciConfig });
    return project;
  }

  test('a specific runner takes its projects\' builds first in, first out, across projects assigned to it', async () => {
    const first = await projectWith(jobs('a1', 'a2'), 'first');
    const second = await projectWith(jobs('b1'), 'second');
    await h.api.createPipeline(first.id, { ci_config: jobs('a3') });
    const stranger = await projectWith(jobs('x1'), 'stranger');
    const runner = await h.runners.registerRunner({ token: first.runners_token });
    assert.equal((await h.admin.assign(second.id, runner.id)).status, 201);
    // FIFO, not fair: a1 running does not let the other project's b1 overtake a2.
    assert.deepEqual(await takeAll(h.runners, runner.token), ['a1', 'a2', 'b1', 'a3']);

    // Removed from a project, it no longer serves it; the other project's runner still does.
    assert.equal((await h.admin.unassign(second.id, runner.id)).status, 204);
    await h.api.createPipeline(second.id, { ci_config: jobs('b2') });
    assert.equal(await nextBuild(h.runners, runner.token), null);
    const secondsOwn = await h.runners.registerRunner({ token: second.runners_token });
    assert.equal(await nextBuild(h.runners, secondsOwn.token), 'b2');
    const strangersOwn = await h.runners.registerRunner({ token: stranger.runners_token });
    assert.equal(await nextBuild(h.runners, strangersOwn.token), 'x1');
  });

  test('a locked specific runner takes the builds of each of its projects, and of no other', async () => {
    const first = await projectWith(jobs('mine1'));
    const second = await projectWith(jobs('mine2'));
    const other = await projectWith(jobs('not-mine'));
    const runner = await h.runners.registerRunner({ token: first.runners_token });
    assert.equal((await h.admin.assign(second.id, runner.id)).status, 201);
    await h.admin.set(runner.id, { locked: true });
    assert.deepEqual(await takeAll(h.runners, runner.token), ['mine1', 'mine2']);
    assert.equal((await h.admin.assign(other.id, runner.id)).status, 400, 'locked: cannot be assigned further');
    const othersOwn = await h.runners.registerRunner({ token: other.runners_token });
    assert.equal(await nextBuild(h.runners, othersOwn.token), 'not-mine');
  });

  test('a project with shared runners disabled still gets builds from its specific runner', async () => {
    const project = await h.api.createProject({ shared_runners_enabled: false });
    await h.api.createPipeline(project.id, { ci_config: jobs('private') });
    const runner = await h.runners.registerRunner({ token: project.runners_token });
    assert.equal(await nextBuild(h.runners, runner.token), 'private');
  });

  describe('tags (can_pick?: build tags ⊆ runner tags; untagged builds need run_untagged)', () => {
    const cases: { build: string[]; runner: string[]; runUntagged: boolean; picks: boolean }[] = [
      { build: ['linux'], runner: ['linux'], runUntagged: true, picks: true },
      { build: ['linux'], runner: ['linux'], runUntagged: false, picks: true },
      { build: ['linux'], runner: ['docker', 'linux', 'ruby'], runUntagged: true, picks: true },
      { build: ['docker', 'linux'], runner: ['docker', 'linux'], runUntagged: false, picks: true },
      { build: ['linux'], runner: ['win32'], runUntagged: true, picks: false },
      { build: ['docker', 'linux'], runner: ['linux'], runUntagged: true, picks: false },
      { build: ['linux'], runner: [], runUntagged: true, picks: false },
      { build: ['Linux'], runner: ['linux'], runUntagged: true, picks: false },
      { build: [], runner: [], runUntagged: true, picks: true },
      { build: [], runner: ['win32'], runUntagged: true, picks: true },
      { build: [], runner: ['win32'], runUntagged: false, picks: false },
    ];
    for (const { build, runner: runnerTags, runUntagged, picks } of cases) {
      const label = `build [${build}] ${picks ? 'goes' : 'does not go'} to a runner [${runnerTags}] with run_untagged ${runUntagged}`;
      test(label, async () => {
        const project = await projectWith(taggedJob('job', build));
        const runner = await h.runners.registerRunner({ token: project.runners_token, tag_list: runnerTags, run_untagged: runUntagged });
        assert.equal(await nextBuild(h.runners, runner.token), picks ? 'job' : null);
      });
    }
  });

  test('retagging and run_untagged through PUT /runners/:id change what the runner gets', async () => {
    const project = await projectWith(taggedJob('on-linux', ['linux']) + taggedJob('untagged', []) + taggedJob('on-both', ['linux', 'docker']));
    const runner = await h.runners.registerRunner({ token: project.runners_token, tag_list: 'win32', run_untagged: false });
    assert.equal(await nextBuild(h.runners, runner.token), null);
    await h.admin.set(runner.id, { tag_list: 'linux' });
    assert.deepEqual(await takeAll(h.runners, runner.token), ['on-linux']);
    await h.admin.set(runner.id, { run_untagged: true });
    assert.deepEqual(await takeAll(h.runners, runner.token), ['untagged']);
    await h.admin.set(runner.id, { tag_list: ['docker', 'linux'] });
    assert.deepEqual(await takeAll(h.runners, runner.token), ['on-both']);
  });

  test('a paused runner gets 404 whatever its User-Agent and its contact is not recorded; resumed, it runs again', async () => {
    const project = await projectWith(jobs('waiting'));
    const runner = await h.runners.registerRunner({ token: project.runners_token, tag_list: 'none-matching', run_untagged: false });
    assert.equal((await h.runners.requestBuild(runner.token)).status, 204);
    const contactedAt = (await h.admin.details(runner.id)).contacted_at;
    assert.equal(contactedAt, clock.now().toISOString());

    clock.advance(5 * 60 * 1000);
    await h.admin.set(runner.id, { active: false, run_untagged: true });
    for (const userAgent of [RUNNER_UA, GO_UA, null]) {
      const reply = await h.runners.requestBuild(runner.token, { userAgent, info: { version: '9.9.9' } });
      assert.equal(reply.status, 404, `${userAgent}: ${reply.text}`);
      assert.deepEqual(reply.json, { message: '404 Not Found' });
    }
    const paused = await h.admin.details(runner.id);
    assert.equal(paused.contacted_at, contactedAt);
    assert.equal(paused.version, null);
    assert.equal(paused.status, 'paused');

    await h.admin.set(runner.id, { active: true });
    assert.equal(await nextBuild(h.runners, runner.token), 'waiting');
    assert.equal((await h.admin.details(runner.id)).contacted_at, clock.now().toISOString());
  });

  test('a poll with info shows contacted_at and the version fields; online for an hour, then offline', async () => {
    const project = await h.api.createProject();
    const runner = await h.runners.registerRunner({ token: project.runners_token });
    const info = { name: 'gitlab-ci-multi-runner', version: '1.11.5', revision: 'cbfcb5c8', platform: 'linux', architecture: 'amd64' };
    assert.equal((await h.runners.requestBuild(runner.token, { info })).status, 204);
    const polledAt = clock.now().toISOString();
    const details = await h.admin.details(runner.id);
    assert.deepEqual(
      { ...pick(details, 'name', 'version', 'revision', 'platform', 'architecture'), contacted_at: details.contacted_at },
      { ...info, contacted_at: polledAt },
    );
    assert.deepEqual(pick(details, 'online', 'status'), { online: true, status: 'online' });

    clock.advance(59 * 60 * 1000);
    assert.equal((await h.admin.details(runner.id)).online, true, '59 minutes later');
    clock.advance(2 * 60 * 1000);
    const later = await h.admin.details(runner.id);
    assert.deepEqual(pick(later, 'online', 'status', 'contacted_at'), { online: false, status: 'offline', contacted_at: polledAt });
    const online = await h.admin.list('?scope=online');
    assert.ok(!online.body.some((listed) => listed.id === runner.id));

    // The next poll brings it back, with what it says now.
    await h.runners.requestBuild(runner.token, { info: { ...info, version: '1.11.6' } });
    assert.deepEqual(pick(await h.admin.details(runner.id), 'online', 'version', 'contacted_at'), {
      online: true,
      version: '1.11.6',
      contacted_at: clock.now().toISOString(),
    });
  });
});

// Shared runners see every project: each test here leaves no pending build behind.
describe('shared runners', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(() => h.coordinator.stop());

  const sharedRunner = (fields: Record<string, unknown> = {}) => h.runners.registerRunner({ token: h.coordinator.registrationToken, ...fields });

  test('fairness across two shared runners: fewest running on shared first, ties by build id', async () => {
    for (const names of [['p1b1', 'p1b2', 'p1b3'], ['p2b1', 'p2b2'], ['p3b1']]) {
      const project = await h.api.createProject();
      await h.api.createPipeline(project.id, { ci_config: jobs(...names) });
    }
    const [a, b] = [await sharedRunner(), await sharedRunner()];
    const taken: BuildDetails[] = [];
    const take = async (token: string) => {
      const reply = await h.runners.requestBuild(token);
      assert.equal(reply.status, 201, reply.text);
      taken.push(reply.json as BuildDetails);
      return (reply.json as BuildDetails).name;
    };
    assert.deepEqual([await take(a.token), await take(b.token), await take(a.token)], ['p1b1', 'p2b1', 'p3b1']);
    // p1b1 finishes: p1 runs nothing now, so it goes first; then p1, p2, p3 run one each and
    // the oldest build wins: p1b3 was created before p2b2.
    const p1b1 = taken[0];
    assert.ok(p1b1);
    assert.equal((await h.runners.updateBuild(p1b1.id, { token: a.token, state: 'success' })).status, 200);
    assert.deepEqual([await take(b.token), await take(a.token), await take(b.token)], ['p1b2', 'p1b3', 'p2b2']);
    assert.equal(await nextBuild(h.runners, a.token), null);
  });

  test('a project with shared_runners_enabled false gets nothing from shared runners', async () => {
    const closed = await h.api.createProject({ shared_runners_enabled: false });
    await h.api.createPipeline(closed.id, { ci_config: jobs('private') });
    const open = await h.api.createProject();
    await h.api.createPipeline(open.id, { ci_config: jobs('public') });
    const runner = await sharedRunner();
    assert.deepEqual(await takeAll(h.runners, runner.token), ['public']);
    const specific = await h.runners.registerRunner({ token: closed.runners_token });
    assert.equal(await nextBuild(h.runners, specific.token), 'private');
  });

  test('a locked shared runner (no projects) takes nothing; unlocked through the API it does', async () => {
    const project = await h.api.createProject();
    await h.api.createPipeline(project.id, { ci_config: jobs('for-anyone') });
    const runner = await sharedRunner({ locked: true });
    assert.equal(await nextBuild(h.runners, runner.token), null);
    const unlocked = await sharedRunner();
    await h.admin.set(unlocked.id, { locked: true });
    assert.equal(await nextBuild(h.runners, unlocked.token), null);
    await h.admin.set(unlocked.id, { locked: false });
    assert.equal(await nextBuild(h.runners, unlocked.token), 'for-anyone');
  });

  test('a shared runner follows the tag rules, and pausing one leaves the builds to the others', async () => {
    const project = await h.api.createProject();
    await h.api.createPipeline(project.id, { ci_config: taggedJob('gpu', ['cuda']) + taggedJob('plain', []) });
    const tagged = await sharedRunner({ tag_list: 'cuda', run_untagged: false });
    const untagged = await sharedRunner();
    await h.admin.set(tagged.id, { active: false });
    assert.equal((await h.runners.requestBuild(tagged.token)).status, 404);
    assert.deepEqual(await takeAll(h.runners, untagged.token), ['plain'], 'an untagged runner never gets a tagged build');
    await h.admin.set(tagged.id, { active: true });
    assert.deepEqual(await takeAll(h.runners, tagged.token), ['gpu']);
  });
  test('a runner deleted while its polls are in flight: no build for it, no 500, the builds stay for others', async () => {
    const project = await h.api.createProject();
    await h.api.createPipeline(project.id, { ci_config: jobs(...Array.from({ length: 10 }, (_, i) => `race${i}`)) });
    const failures: string[] = [];
    let handedOut = 0;
    // The deletion must land between a poll's token check and its claim of a build; staggering
    // it by a few milliseconds over several rounds makes that happen (whatever the timing, the
    // assertions hold when the coordinator is right).
    for (let round = 0; round < 5; round++) {
      const doomed = await sharedRunner();
      const polls = Array.from({ length: 4 }, () => h.runners.requestBuild(doomed.token));
      await new Promise((resolve) => setTimeout(resolve, round));
      assert.equal((await h.admin.delete(doomed.id)).status, 204);
      for (const reply of await Promise.all(polls)) {
        if (reply.status === 201) handedOut++;
        else if (reply.status !== 204 && reply.status !== 403) failures.push(`${reply.status} ${reply.text}`);
      }
    }
    assert.deepEqual(failures, []);
    const survivor = await sharedRunner();
    assert.equal((await takeAll(h.runners, survivor.token)).length + handedOut, 10);
  });
});
