// POST builds/register: GitLab 8.15's builds_spec "POST /builds/register" (gitlab-ci-api-v1.md §8.1,
// R1–R30), the derived checks X1–X6 of §8.9, the payload of §2 with the JSON types of
// runner-protocol.md §4, and the queue rules of §3 (fairness, tags, locked, shared runners).
//
// Mapping of cases that rest on something this coordinator does not have:
// - R3 (registry enabled → registry credentials): there is no container registry, so
//   `credentials` is always [] — asserted as R4.
// - R13–R16 ("SharedRunner", really a specific runner linked to no project): runners register
//   through the API only, and a project token always links the runner to its project, so the
//   equivalent is a specific runner of another project.
// - R17 (trigger request and secret variables): there are no triggers or secret variables; a
//   pipeline's request `variables` are their equivalent and reach the build with public=false.
// - R29–R30 (paused runner), retried builds, manual jobs being played, stored artifacts and
//   pending-delete projects have no API here (yet): those states are written to the database
//   directly, each marked where it happens.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  BETA_RUNNER_UA,
  FACTORY_CONFIG,
  GO_UA,
  PIPELINE_SHA,
  RUNNER_UA,
  RunnerApi,
  factoryJob,
  startWorld,
  type BuildDetails,
  type RawReply,
  type World,
} from './support/runnerApi.js';
import type { components } from '../src/generated/api.js';
import { tokenDigest } from '../src/store/tokenDigests.js';
import { tokenVaultOf } from '../src/store/tokenVault.js';
import { startTestCoordinator } from './support/coordinator.js';
import { ManualClock } from './support/runningBuilds.js';
import { UserApi } from './support/userApi.js';

type Schemas = components['schemas'];

interface FixtureOptions {
  project?: Partial<Schemas['NewProject']>;
  pipeline?: Partial<Schemas['NewPipeline']>;
  ciConfig?: string;
  runner?: Record<string, unknown>;
}

/**
 * GitLab's fixtures (§8.0): project P, a pipeline of P at PIPELINE_SHA with the pending build
 * `spinach`, and the specific runner R of P tagged mysql and ruby.
 */
async function fixture({ api, runners }: World, options: FixtureOptions = {}) {
  const project = await api.createProject(options.project);
  const pipeline = await api.createPipeline(project.id, { ci_config: options.ciConfig ?? FACTORY_CONFIG, ...options.pipeline });
  const runner = await runners.registerRunner({ token: project.runners_token, tag_list: 'mysql, ruby', ...options.runner });
  return { project, pipeline, runner };
}

function assertNoContent(reply: RawReply, label: string): void {
  assert.equal(reply.status, 204, `${label}: ${reply.text}`);
  assert.equal(reply.text, '', label);
  assert.equal(reply.headers['content-type'], undefined, label);
}

function assertNotFound(reply: RawReply, label: string): void {
  assert.equal(reply.status, 404, `${label}: ${reply.text}`);
  assert.equal(reply.headers['content-type'], 'application/json', label);
  assert.deepEqual(reply.json, { message: '404 Not Found' }, label);
}

/** GitLab's "no builds available" shared example: (a) and (b) get 204, (c) and (d) 404. */
async function assertNoBuildsAvailable(runners: RunnerApi, token: string): Promise<void> {
  assertNoContent(await runners.requestBuild(token, { userAgent: RUNNER_UA }), '(a) stable runner');
  assertNoContent(await runners.requestBuild(token, { userAgent: BETA_RUNNER_UA }), '(b) beta runner');
  assertNotFound(await runners.requestBuild(token, { userAgent: GO_UA }), '(c) Go-http-client');
  assertNotFound(await runners.requestBuild(token, { userAgent: null }), '(d) no User-Agent');
}

function assertBuildReply(reply: RawReply): BuildDetails {
  assert.equal(reply.status, 201, reply.text);
  assert.equal(reply.headers['content-type'], 'application/json');
  return reply.json as BuildDetails;
}

const variable = (key: string, value: string, isPublic = true) => ({ key, value, public: isPublic });

describe('POST /builds/register with a specific runner (GitLab fixtures)', () => {
  let world: World;
  before(async () => {
    world = await startWorld();
  });
  after(() => world.coordinator.stop());

  const runnerRow = (id: number) => world.coordinator.db('runners').where({ id }).first();
  const buildRow = (id: number) => world.coordinator.db('builds').where({ id }).first();
  /** A stored archive's row, as an upload would write it (the payload only reads the row). */
  const storeArchiveRow = (buildId: number, filename: string, size: number, expireAt: string | null) =>
    world.coordinator.db('job_artifacts').insert({
      build_id: buildId, file_type: 'archive', file_format: 'zip', filename, size, expire_at: expireAt, file_key: `key${buildId}`, created_at: new Date().toISOString(),
    });
  const finish = async (build: BuildDetails, runnerToken: string, state = 'success') => {
    const reply = await world.runners.updateBuild(build.id, { token: runnerToken, state });
    assert.equal(reply.status, 200, reply.text);
  };

  test('R1: starts the pending build: sha, options, variables; stores the runner platform', async () => {
    const { runner } = await fixture(world);
    const build = assertBuildReply(await world.runners.requestBuild(runner.token, { info: { platform: 'darwin' } }));
    assert.equal(build.sha, PIPELINE_SHA);
    assert.equal(build.name, 'spinach');
    assert.deepEqual(build.options, { image: 'ruby:2.1', services: ['postgres'] });
    assert.deepEqual(
      build.variables.filter((v) => ['CI_BUILD_NAME', 'CI_BUILD_STAGE', 'DB_NAME'].includes(v.key)),
      [variable('CI_BUILD_NAME', 'spinach'), variable('CI_BUILD_STAGE', 'test'), variable('DB_NAME', 'postgres')],
    );
    assert.equal((await runnerRow(runner.id)).platform, 'darwin');
  });

  test('R2: updates contacted_at', async () => {
    const { runner } = await fixture(world);
    assert.equal((await runnerRow(runner.id)).contacted_at, null);
    assertBuildReply(await world.runners.requestBuild(runner.token));
    assert.ok(Date.parse((await runnerRow(runner.id)).contacted_at) > 0);
  });

  test('R3/R4: credentials is present and empty (no registry here)', async () => {
    const { runner } = await fixture(world);
    const build = assertBuildReply(await world.runners.requestBuild(runner.token));
    assert.deepEqual(build.credentials, []);
  });

  test('R5–R8: no build once the build is finished', async () => {
    const { runner } = await fixture(world);
    await finish(await world.runners.takeBuild(runner.token), runner.token);
    await assertNoBuildsAvailable(world.runners, runner.token);
  });

  test('R9–R12: no build from a project the runner is not assigned to', async () => {
    const { runner } = await fixture(world);
    await finish(await world.runners.takeBuild(runner.token), runner.token);
    const other = await world.api.createProject();
    const otherPipeline = await world.api.createPipeline(other.id, { ci_config: FACTORY_CONFIG });
    await assertNoBuildsAvailable(world.runners, runner.token);
    const [otherBuild] = await world.api.listJobs(other.id, otherPipeline.id);
    assert.equal(otherBuild?.status, 'pending');
  });

  test("R13–R16: a specific runner of another project does not get the build", async () => {
    const { project, pipeline } = await fixture(world);
    const elsewhere = await world.api.createProject();
    const stranger = await world.runners.registerRunner({ token: elsewhere.runners_token });
    await assertNoBuildsAvailable(world.runners, stranger.token);
    const [build] = await world.api.listJobs(project.id, pipeline.id);
    assert.equal(build?.status, 'pending');
  });

  test('R17: pipeline variables reach the build after the YAML ones, not public', async () => {
    const { runner } = await fixture(world, {
      pipeline: { variables: [{ key: 'TRIGGER_KEY_1', value: 'TRIGGER_VALUE_1' }, { key: 'TRIGGER_KEY_2', value: 'TRIGGER_VALUE_2' }] },
    });
    const build = await world.runners.takeBuild(runner.token);
    const keys = build.variables.map((v) => v.key);
    for (const expected of [
      variable('CI_BUILD_NAME', 'spinach'),
      variable('CI_BUILD_STAGE', 'test'),
      variable('DB_NAME', 'postgres'),
      variable('TRIGGER_KEY_1', 'TRIGGER_VALUE_1', false),
      variable('TRIGGER_KEY_2', 'TRIGGER_VALUE_2', false),
    ]) {
      assert.deepEqual(build.variables.find((v) => v.key === expected.key), expected);
    }
    assert.deepEqual(keys.slice(-3), ['DB_NAME', 'TRIGGER_KEY_1', 'TRIGGER_KEY_2']);
  });

  test('R18: returns the builds of earlier stages as depends_on_builds', async () => {
    const { runner } = await fixture(world, { ciConfig: `stages: [test, deploy]\n${factoryJob('spinach')}${factoryJob('deploy', ['stage: deploy'])}` });
    const spinach = await world.runners.takeBuild(runner.token);
    assert.equal(spinach.name, 'spinach');
    assert.deepEqual(spinach.depends_on_builds, []);
    await finish(spinach, runner.token);
    const deploy = await world.runners.takeBuild(runner.token);
    assert.equal(deploy.name, 'deploy');
    assert.equal(deploy.depends_on_builds.length, 1);
    assert.equal(deploy.depends_on_builds[0]?.id, spinach.id);
    assert.equal(deploy.depends_on_builds[0]?.name, 'spinach');
  });

  for (const key of ['name', 'version', 'revision', 'platform', 'architecture']) {
    test(`R19–R23: stores the runner's ${key}`, async () => {
      const { runner } = await fixture(world);
      assertBuildReply(await world.runners.requestBuild(runner.token, { info: { [key]: `${key}_value` } }));
      assert.equal((await runnerRow(runner.id))[key], `${key}_value`);
    });
  }

  test('R24: a runner allowed to run untagged builds picks an untagged build', async () => {
    const { runner } = await fixture(world, { runner: { run_untagged: true } });
    assertBuildReply(await world.runners.requestBuild(runner.token));
  });

  test('R25–R28: a runner not allowed to run untagged builds gets none', async () => {
    const { runner } = await fixture(world, { runner: { run_untagged: false } });
    await assertNoBuildsAvailable(world.runners, runner.token);
  });

  test('R29–R30: a paused runner gets 404 whatever its User-Agent, and its contact is not recorded', async () => {
    const { runner } = await fixture(world);
    // There is no API to pause a runner (GitLab did it in its UI): pause it in the database.
    await world.coordinator.db('runners').where({ id: runner.id }).update({ active: false });
    for (const userAgent of [RUNNER_UA, BETA_RUNNER_UA, GO_UA, null]) {
      assertNotFound(await world.runners.requestBuild(runner.token, { userAgent, info: { version: '9.9.9' } }), String(userAgent));
    }
    const row = await runnerRow(runner.id);
    assert.equal(row.contacted_at, null);
    assert.equal(row.version, null);
  });

  test('X1: an unknown or empty token answers 403, a missing one 400', async () => {
    await fixture(world);
    for (const token of ['unknown', '']) {
      const reply = await world.runners.requestBuild(token);
      assert.equal(reply.status, 403, token);
      assert.equal(reply.headers['content-type'], 'application/json');
      assert.deepEqual(reply.json, { message: '403 Forbidden' });
    }
    // GitLab answered 403 here too; our contract validates the body first.
    const missing = await world.runners.request('POST', '/ci/api/v1/builds/register.json', {}, { 'User-Agent': RUNNER_UA });
    assert.equal(missing.status, 400);
    assert.deepEqual(missing.json, { message: '400 (Bad request) "token" not given' });
    const wrongType = await world.runners.request('POST', '/ci/api/v1/builds/register.json', { token: 5 }, { 'User-Agent': RUNNER_UA });
    assert.equal(wrongType.status, 400);
  });

  test('X2: the build is now running on the runner, and nobody gets it again', async () => {
    const { project, pipeline, runner } = await fixture(world);
    const build = assertBuildReply(await world.runners.requestBuild(runner.token));
    assert.equal(build.status, 'running');
    const row = await buildRow(build.id);
    assert.equal(row.status, 'running');
    assert.equal(Number(row.runner_id), runner.id);
    assert.ok(Date.parse(row.started_at) > 0);
    assert.equal((await world.api.getPipeline(project.id, pipeline.id)).status, 'running');
    const second = await world.runners.registerRunner({ token: project.runners_token });
    assertNoContent(await world.runners.requestBuild(second.token), 'second runner');
    assertNoContent(await world.runners.requestBuild(runner.token), 'same runner');
  });

  test('X3: build tags must be a subset of the runner tags; untagged builds go to untagged-capable runners', async () => {
    const linuxBuild = `${factoryJob('spinach', ['tags: [linux]'])}`;
    const cases: { runner: Record<string, unknown>; ciConfig: string; picked: boolean; label: string }[] = [
      { runner: { tag_list: 'linux' }, ciConfig: linuxBuild, picked: true, label: 'linux build, linux runner' },
      { runner: { tag_list: 'win32' }, ciConfig: linuxBuild, picked: false, label: 'linux build, win32 runner' },
      { runner: { tag_list: '' }, ciConfig: linuxBuild, picked: false, label: 'linux build, untagged runner' },
      { runner: { tag_list: 'win32' }, ciConfig: FACTORY_CONFIG, picked: true, label: 'untagged build, win32 runner' },
      { runner: { tag_list: 'linux, docker' }, ciConfig: factoryJob('spinach', ['tags: [linux, docker]']), picked: true, label: 'all tags covered' },
      { runner: { tag_list: 'linux' }, ciConfig: factoryJob('spinach', ['tags: [linux, docker]']), picked: false, label: 'one tag missing' },
      { runner: { tag_list: 'linux', run_untagged: false }, ciConfig: linuxBuild, picked: true, label: 'tagged-only runner, tagged build' },
    ];
    for (const { runner: fields, ciConfig, picked, label } of cases) {
      const { runner } = await fixture(world, { ciConfig, runner: fields });
      const reply = await world.runners.requestBuild(runner.token);
      assert.equal(reply.status, picked ? 201 : 204, label);
    }
  });

  test('X3: a locked specific runner still picks the builds of its own project', async () => {
    const { runner } = await fixture(world, { runner: { locked: true } });
    assertBuildReply(await world.runners.requestBuild(runner.token));
  });

  test('X3: a specific runner skips builds it may not pick and takes the next one, first in first out', async () => {
    const ciConfig = `${factoryJob('first', ['tags: [win32]'])}${factoryJob('second')}${factoryJob('third')}`;
    const { runner } = await fixture(world, { ciConfig });
    assert.equal((await world.runners.takeBuild(runner.token)).name, 'second');
    assert.equal((await world.runners.takeBuild(runner.token)).name, 'third');
    assertNoContent(await world.runners.requestBuild(runner.token), 'only the win32 build is left');
  });

  test('X5: 204 only for a runner-shaped User-Agent with the trailing space', async () => {
    const { runner } = await fixture(world, { runner: { run_untagged: false } });
    const cases: [string, number][] = [
      ['gitlab-ci-multi-runner 1.2.0 (1-2-stable; go1.5; linux/amd64)', 204],
      // (A trailing space at the very end of a header is not part of its value in HTTP.)
      ['gitlab-ci-multi-runner 0.0.1 x', 204],
      ['Mozilla/5.0 gitlab-ci-multi-runner 1.11.5 (1-11-stable; go1.8.3; linux/amd64)', 204],
      ['gitlab-ci-multi-runner 1.5.2', 404],
      ['gitlab-ci-multi-runner 1.5 (1-5-stable)', 404],
      ['gitlab-runner 9.0.0 (9-0-stable; go1.8.1; linux/amd64)', 404],
      ['', 404],
    ];
    for (const [userAgent, status] of cases) {
      const reply = await world.runners.requestBuild(runner.token, { userAgent });
      assert.equal(reply.status, status, userAgent);
    }
  });

  test('X6: builds/register without .json answers the same', async () => {
    const { runner } = await fixture(world);
    const path = '/ci/api/v1/builds/register';
    assertBuildReply(await world.runners.requestBuild(runner.token, { path }));
    assertNoContent(await world.runners.requestBuild(runner.token, { path }), 'no .json, no build');
    assertNotFound(await world.runners.requestBuild(runner.token, { path, userAgent: GO_UA }), 'no .json, Go client');
  });

  test('contact info is refreshed at most once a minute', async () => {
    // Its own server on a manual clock: the server remembers the contact it wrote, so only
    // time passing (not a row changed behind its back) makes the next one due.
    const clock = new ManualClock();
    const coordinator = await startTestCoordinator({}, clock);
    try {
      const own: World = { coordinator, api: new UserApi(coordinator.url, coordinator.adminToken), runners: new RunnerApi(coordinator.url) };
      const row = (id: number) => coordinator.db('runners').where({ id }).first();
      const { runner } = await fixture(own, { ciConfig: `${factoryJob('one')}${factoryJob('two')}${factoryJob('three')}` });
      await own.runners.requestBuild(runner.token, { info: { version: '1.0.0' } });
      const first = await row(runner.id);
      clock.advance(59_000);
      await own.runners.requestBuild(runner.token, { info: { version: '2.0.0' } });
      const second = await row(runner.id);
      assert.equal(second.contacted_at, first.contacted_at);
      assert.equal(second.version, '1.0.0');
      clock.advance(2_000);
      await own.runners.requestBuild(runner.token, { info: { version: '3.0.0' } });
      const third = await row(runner.id);
      assert.equal(third.contacted_at, clock.now().toISOString());
      assert.equal(third.version, '3.0.0');
    } finally {
      await coordinator.stop();
    }
  });

  describe('the payload', () => {
    test('has every key of BuildDetails with the JSON type the runner decodes', async () => {
      const { runner } = await fixture(world);
      const reply = await world.runners.requestBuild(runner.token);
      const build = assertBuildReply(reply) as unknown as Record<string, unknown>;
      const types: Record<string, string> = {
        id: 'integer', ref: 'string', tag: 'boolean', sha: 'string', status: 'string', name: 'string', token: 'string',
        stage: 'string', project_id: 'integer', project_name: 'string', commands: 'string', repo_url: 'string',
        before_sha: 'string', allow_git_fetch: 'boolean', options: 'object', timeout: 'integer', variables: 'array',
        depends_on_builds: 'array', credentials: 'array',
      };
      assert.deepEqual(Object.keys(build).sort(), Object.keys(types).sort(), 'no artifacts keys without artifacts');
      for (const [key, type] of Object.entries(types)) assert.equal(jsonType(build[key]), type, key);
      assert.ok((build.id as number) > 0);
      assert.match(build.sha as string, /^[0-9a-f]{40}$/);
      assert.equal(build.status, 'running');
      assert.equal(build.commands, 'ls -a');
      assert.equal(build.before_sha, '0000000000000000000000000000000000000000');
      for (const entry of build.variables as Record<string, unknown>[]) {
        assert.deepEqual(Object.keys(entry).sort(), ['key', 'public', 'value']);
        assert.equal(typeof entry.key, 'string');
        assert.equal(typeof entry.value, 'string', String(entry.key));
        assert.equal(typeof entry.public, 'boolean');
      }
    });

    test('variables come in GitLab order, with CI_BUILD_TOKEN secret', async () => {
      const { project, pipeline, runner } = await fixture(world, {
        project: { name: 'diaspora', repo_url: 'https://git.example.com/diaspora/diaspora.git' },
        runner: { description: 'e2e-runner', tag_list: 'ruby, docker' },
        pipeline: { ref: 'Feature/Foo_Bar', variables: [{ key: 'SECRET', value: 's3cr3t' }] },
        ciConfig: `variables:\n  DB_NAME: postgres\n${factoryJob('spinach', ['variables: { JOB_VAR: "1" }'])}`,
      });
      const build = await world.runners.takeBuild(runner.token);
      assert.deepEqual(build.variables, [
        variable('CI', 'true'),
        variable('GITLAB_CI', 'true'),
        variable('CI_BUILD_ID', String(build.id)),
        variable('CI_BUILD_TOKEN', build.token, false),
        variable('CI_BUILD_REF', PIPELINE_SHA),
        variable('CI_BUILD_BEFORE_SHA', '0000000000000000000000000000000000000000'),
        variable('CI_BUILD_REF_NAME', 'Feature/Foo_Bar'),
        variable('CI_BUILD_REF_SLUG', 'feature-foo-bar'),
        variable('CI_BUILD_NAME', 'spinach'),
        variable('CI_BUILD_STAGE', 'test'),
        variable('CI_SERVER_NAME', 'GitLab'),
        variable('CI_SERVER_VERSION', '8.15.1'),
        variable('CI_SERVER_REVISION', '8.15.1'),
        variable('CI_PROJECT_ID', String(project.id)),
        variable('CI_PROJECT_NAME', 'diaspora'),
        variable('CI_PROJECT_PATH', 'diaspora'),
        variable('CI_PROJECT_NAMESPACE', ''),
        variable('CI_PROJECT_URL', 'https://git.example.com/diaspora/diaspora.git'),
        variable('CI_PIPELINE_ID', String(pipeline.id)),
        variable('CI_RUNNER_ID', String(runner.id)),
        variable('CI_RUNNER_DESCRIPTION', 'e2e-runner'),
        variable('CI_RUNNER_TAGS', 'docker, ruby'),
        variable('DB_NAME', 'postgres'),
        variable('JOB_VAR', '1'),
        variable('SECRET', 's3cr3t', false),
      ]);
    });

    test('a tag build has CI_BUILD_TAG, a manual one CI_BUILD_MANUAL, after CI_SERVER_REVISION', async () => {
      const { project, pipeline, runner } = await fixture(world, {
        pipeline: { ref: 'v1.0', tag: true },
        ciConfig: `${factoryJob('spinach')}${factoryJob('release', ['when: manual'])}`,
      });
      const spinach = await world.runners.takeBuild(runner.token);
      assert.equal(spinach.tag, true);
      assert.equal(spinach.ref, 'v1.0');
      const keys = spinach.variables.map((v) => v.key);
      assert.deepEqual(keys.slice(keys.indexOf('CI_SERVER_REVISION'), keys.indexOf('CI_PROJECT_ID')), ['CI_SERVER_REVISION', 'CI_BUILD_TAG']);
      assert.deepEqual(spinach.variables.find((v) => v.key === 'CI_BUILD_TAG'), variable('CI_BUILD_TAG', 'v1.0'));
      // Playing a manual job has no API yet: queue it in the database as playing would.
      const release = (await world.api.listJobs(project.id, pipeline.id)).find((job) => job.name === 'release');
      assert.equal(release?.status, 'skipped');
      await world.coordinator.db('builds').where({ id: release?.id }).update({ status: 'pending' });
      const played = await world.runners.takeBuild(runner.token);
      const playedKeys = played.variables.map((v) => v.key);
      assert.deepEqual(playedKeys.slice(playedKeys.indexOf('CI_SERVER_REVISION'), playedKeys.indexOf('CI_PROJECT_ID')), [
        'CI_SERVER_REVISION',
        'CI_BUILD_TAG',
        'CI_BUILD_MANUAL',
      ]);
      assert.deepEqual(played.variables.find((v) => v.key === 'CI_BUILD_MANUAL'), variable('CI_BUILD_MANUAL', 'true'));
    });

    test('CI_BUILD_REF_SLUG is at most 63 characters', async () => {
      const ref = `${'A'.repeat(60)}.release-2`;
      const { runner } = await fixture(world, { pipeline: { ref } });
      const build = await world.runners.takeBuild(runner.token);
      assert.deepEqual(build.variables.find((v) => v.key === 'CI_BUILD_REF_SLUG'), variable('CI_BUILD_REF_SLUG', `${'a'.repeat(60)}-re`));
    });

    test('repo_url is exactly as given; CI_PROJECT_URL drops user and password', async () => {
      const urls: [string, string][] = [
        ['https://deploy:s3cret@git.example.com/group/app.git', 'https://git.example.com/group/app.git'],
        ['file:///srv/repos/app.git', 'file:///srv/repos/app.git'],
        ['/srv/repos/app.git', '/srv/repos/app.git'],
        ['git@git.example.com:group/app.git', 'git@git.example.com:group/app.git'],
      ];
      for (const [repoUrl, projectUrl] of urls) {
        const { runner } = await fixture(world, { project: { repo_url: repoUrl } });
        const build = await world.runners.takeBuild(runner.token);
        assert.equal(build.repo_url, repoUrl);
        assert.deepEqual(build.variables.find((v) => v.key === 'CI_PROJECT_URL'), variable('CI_PROJECT_URL', projectUrl));
      }
    });

    test('timeout, allow_git_fetch, before_sha, project fields and commands come from project, pipeline and job', async () => {
      const beforeSha = 'ABCDEF0123456789abcdef0123456789abcdef01';
      const { project, runner } = await fixture(world, {
        project: { name: 'My Project', build_timeout: 1234, build_allow_git_fetch: false },
        pipeline: { before_sha: beforeSha },
        ciConfig: 'before_script: [bundle install]\nrspec:\n  script: [rspec, rubocop]\n',
      });
      const build = await world.runners.takeBuild(runner.token);
      assert.equal(build.timeout, 1234);
      assert.equal(build.allow_git_fetch, false);
      assert.equal(build.before_sha, beforeSha.toLowerCase());
      assert.equal(build.project_id, project.id);
      assert.equal(build.project_name, 'My Project');
      assert.equal(build.commands, 'bundle install\nrspec\nrubocop');
      assert.deepEqual(build.options, {});
      assert.equal(build.tag, false);
    });

    test('depends_on_builds: the newest build of each name of earlier stages, with unexpired artifacts', async () => {
      const ciConfig = [
        'stages: [build, test, deploy]',
        factoryJob('compile', ['stage: build']),
        factoryJob('lint', ['stage: build']),
        factoryJob('rspec', ['stage: test']),
        factoryJob('deploy', ['stage: deploy']),
        factoryJob('notify', ['stage: deploy']),
      ].join('\n');
      const { runner } = await fixture(world, { ciConfig });
      const finished: Record<string, BuildDetails> = {};
      for (let i = 0; i < 3; i++) {
        const build = await world.runners.takeBuild(runner.token);
        finished[build.name] = build;
        await finish(build, runner.token);
      }
      const { compile, lint, rspec } = finished;
      assert.ok(compile && lint && rspec);
      // No retry or artifacts API for this: write a retried compile (newer id, same name) and the
      // stored archives the way those features would.
      const original = await buildRow(compile.id);
      const [retriedId] = await world.coordinator
        .db('builds')
        .insert({
          ...original,
          id: undefined,
          token_digest: tokenDigest('retried-compile-token'),
          token_sealed: tokenVaultOf(world.coordinator.db).seal('retried-compile-token'),
        })
        .returning('id')
        .then((rows) => rows.map((row: { id: number } | number) => (typeof row === 'number' ? row : row.id)));
      const past = new Date(Date.now() - 60_000).toISOString();
      const future = new Date(Date.now() + 3_600_000).toISOString();
      await storeArchiveRow(Number(retriedId), 'compile.zip', 22, null);
      await storeArchiveRow(lint.id, 'lint.zip', 7, past);
      await storeArchiveRow(rspec.id, 'rspec.zip', 9, future);

      const deploy = await world.runners.takeBuild(runner.token);
      assert.equal(deploy.name, 'deploy');
      const entity = (build: BuildDetails, extra: Partial<Schemas['Build']> = {}): Schemas['Build'] => ({
        id: build.id, ref: 'master', tag: false, sha: PIPELINE_SHA, status: 'success', name: build.name, token: build.token,
        stage: build.stage, project_id: build.project_id, project_name: build.project_name, ...extra,
      });
      assert.deepEqual(deploy.depends_on_builds, [
        entity(lint),
        entity(rspec, { artifacts_file: { filename: 'rspec.zip', size: 9 } }),
        entity(compile, { id: Number(retriedId), token: 'retried-compile-token', artifacts_file: { filename: 'compile.zip', size: 22 } }),
      ]);
      // Builds of the same stage are not dependencies.
      assert.ok(!deploy.depends_on_builds.some((b) => b.name === 'notify'));
    });

    test('the build itself carries artifacts_file and artifacts_expire_at only while it has unexpired artifacts', async () => {
      const { project, pipeline, runner } = await fixture(world, { ciConfig: `${factoryJob('one')}${factoryJob('two')}${factoryJob('three')}` });
      const jobs = await world.api.listJobs(project.id, pipeline.id);
      const byName = (name: string) => jobs.find((job) => job.name === name)?.id;
      const expireAt = new Date(Date.now() + 3_600_000).toISOString();
      // Archives kept from an earlier run of the build, written where an upload would put them.
      await storeArchiveRow(Number(byName('one')), 'a.zip', 3, expireAt);
      await storeArchiveRow(Number(byName('two')), 'b.zip', 4, null);
      await storeArchiveRow(Number(byName('three')), 'c.zip', 5, '2000-01-01T00:00:00.000Z');
      const one = (await world.runners.takeBuild(runner.token)) as BuildDetails & Record<string, unknown>;
      assert.deepEqual(one.artifacts_file, { filename: 'a.zip', size: 3 });
      assert.equal(one.artifacts_expire_at, expireAt);
      const two = (await world.runners.takeBuild(runner.token)) as BuildDetails & Record<string, unknown>;
      assert.deepEqual(two.artifacts_file, { filename: 'b.zip', size: 4 });
      assert.ok('artifacts_expire_at' in two);
      assert.equal(two.artifacts_expire_at, null);
      const three = (await world.runners.takeBuild(runner.token)) as BuildDetails & Record<string, unknown>;
      assert.ok(!('artifacts_file' in three));
      assert.ok(!('artifacts_expire_at' in three));
    });
  });
});

describe('POST /builds/register with shared runners', () => {
  let world: World;
  // Shared runners see every project, so each case gets a coordinator of its own.
  const fresh = async () => {
    await world?.coordinator.stop();
    world = await startWorld();
    return world;
  };
  after(() => world?.coordinator.stop());

  const shared = (fields: Record<string, unknown> = {}) => world.runners.registerRunner({ token: world.coordinator.registrationToken, ...fields });
  const pipelineOf = async (jobNames: string[], projectFields: Partial<Schemas['NewProject']> = {}) => {
    const project = await world.api.createProject(projectFields);
    const pipeline = await world.api.createPipeline(project.id, { ci_config: jobNames.map((name) => factoryJob(name)).join('') });
    return { project, pipeline };
  };

  test('R13–R16 caveat: a truly shared runner does get the build', async () => {
    await fresh();
    await pipelineOf(['spinach']);
    const runner = await shared();
    assert.equal((await world.runners.takeBuild(runner.token)).name, 'spinach');
  });

  test('X4: builds are shared fairly: the project with fewest builds running on shared runners first', async () => {
    await fresh();
    await pipelineOf(['p1b1', 'p1b2', 'p1b3']);
    await pipelineOf(['p2b1', 'p2b2']);
    await pipelineOf(['p3b1']);
    const runner = await shared();
    const order: string[] = [];
    for (let i = 0; i < 6; i++) order.push((await world.runners.takeBuild(runner.token)).name);
    assert.deepEqual(order, ['p1b1', 'p2b1', 'p3b1', 'p1b2', 'p2b2', 'p1b3']);
    assertNoContent(await world.runners.requestBuild(runner.token), 'queue empty');
  });

  test('X4: a project whose build finished comes first again', async () => {
    await fresh();
    await pipelineOf(['p1b1', 'p1b2', 'p1b3']);
    await pipelineOf(['p2b1', 'p2b2']);
    await pipelineOf(['p3b1']);
    const runner = await shared();
    const p1b1 = await world.runners.takeBuild(runner.token);
    assert.equal(p1b1.name, 'p1b1');
    assert.equal((await world.runners.updateBuild(p1b1.id, { token: runner.token, state: 'success' })).status, 200);
    assert.equal((await world.runners.takeBuild(runner.token)).name, 'p1b2');
  });

  test('X4: builds running on specific runners do not count against a project', async () => {
    await fresh();
    const { project } = await pipelineOf(['p1b1', 'p1b2']);
    await pipelineOf(['p2b1']);
    const specific = await world.runners.registerRunner({ token: project.runners_token });
    assert.equal((await world.runners.takeBuild(specific.token)).name, 'p1b1');
    const runner = await shared();
    assert.equal((await world.runners.takeBuild(runner.token)).name, 'p1b2');
  });

  test('X4: no build from a project with shared runners disabled; its specific runner gets it', async () => {
    await fresh();
    const { project } = await pipelineOf(['private'], { shared_runners_enabled: false });
    const runner = await shared();
    await assertNoBuildsAvailable(world.runners, runner.token);
    const specific = await world.runners.registerRunner({ token: project.runners_token });
    assert.equal((await world.runners.takeBuild(specific.token)).name, 'private');
  });

  test('X4: no build from a project pending deletion, for shared and specific runners alike', async () => {
    await fresh();
    const { project } = await pipelineOf(['doomed']);
    const runner = await shared();
    const specific = await world.runners.registerRunner({ token: project.runners_token });
    // There is no project deletion API yet: flag the project as a deletion would.
    await world.coordinator.db('projects').where({ id: project.id }).update({ pending_delete: true });
    await assertNoBuildsAvailable(world.runners, runner.token);
    await assertNoBuildsAvailable(world.runners, specific.token);
  });

  test('X3: a locked shared runner (no projects of its own) picks nothing', async () => {
    await fresh();
    await pipelineOf(['spinach']);
    const locked = await shared({ locked: true });
    await assertNoBuildsAvailable(world.runners, locked.token);
    const unlocked = await shared();
    assertBuildReply(await world.runners.requestBuild(unlocked.token));
  });

  test('X3: a shared runner skips what its tags do not cover, across batches of candidates', async () => {
    await fresh();
    // More unpickable builds than one batch of candidates, then one it may pick.
    const windows = Array.from({ length: 60 }, (_, i) => factoryJob(`win${i}`, ['tags: [win32]'])).join('');
    const project = await world.api.createProject();
    await world.api.createPipeline(project.id, { ci_config: `${windows}${factoryJob('linux', ['tags: [linux]'])}` });
    const runner = await shared({ tag_list: 'linux' });
    assert.equal((await world.runners.takeBuild(runner.token)).name, 'linux');
    assertNoContent(await world.runners.requestBuild(runner.token), 'only win32 builds left');
  });

  test('a paused shared runner gets 404 even with builds waiting', async () => {
    await fresh();
    await pipelineOf(['spinach']);
    const runner = await shared();
    // No API pauses a runner: do it in the database.
    await world.coordinator.db('runners').where({ id: runner.id }).update({ active: false });
    assertNotFound(await world.runners.requestBuild(runner.token), 'paused');
  });
});

function jsonType(value: unknown): string {
  if (Array.isArray(value)) return 'array';
  if (value === null) return 'null';
  if (typeof value === 'number') return Number.isInteger(value) ? 'integer' : 'number';
  return typeof value;
}
