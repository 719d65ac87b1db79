// Issue 9: every token we issue is masked in traces, also split across two PATCHes, through
// the real HTTP API. Besides what GitLab masked (the build token, which is also the v4 job
// token, and the project's runners token, see test/traceMaskingWindow.test.ts): the tokens of
// the builds it depends on, the build's runner's token (v1, and a glrt- token through v4), the
// project's trigger tokens, and the instance's registration and admin tokens, configured or
// generated. Runner, trigger and generated instance tokens are kept as digests only, so the
// masker finds them by digest; a server started later, which never saw the generated tokens in
// plain, still masks them.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { RunnerSimulator, type BuildPayload } from './support/runnerSimulator.js';
import { RunnerV4Simulator } from './support/runnerV4Simulator.js';
import { storedTrace } from './support/runnerApi.js';
import { UserApi } from './support/userApi.js';

const TWO_STAGES = 'stages: [build, deploy]\ncompile:\n  stage: build\n  script: make\ndeploy:\n  stage: deploy\n  script: make deploy\n';

const masked = (text: string, secrets: readonly string[]) => secrets.reduce((result, secret) => result.replaceAll(secret, 'x'.repeat(secret.length)), text);

/** Each secret sent split in two PATCHes at `at` (and once more whole), framed so that nothing but the secret can be masked. */
function splitPieces(secrets: readonly string[], at: (secret: string) => number): string[] {
  return secrets.flatMap((secret) => [`<${secret.slice(0, at(secret))}`, `${secret.slice(at(secret))}>\n`, `whole ${secret}\n`]);
}

/** Sends `pieces` as consecutive v1 PATCHes, each accepted at the offset it extends. */
async function patchV1(runner: RunnerSimulator, build: BuildPayload, pieces: readonly string[]): Promise<void> {
  let offset = 0;
  for (const piece of pieces) {
    const reply = await runner.patchTrace(build.id, build.token, offset, piece);
    assert.equal(reply.status, 202, reply.body.toString());
    offset += Buffer.byteLength(piece);
  }
}

async function shownTrace(api: UserApi, projectId: number, buildId: number): Promise<string> {
  const reply = await api.request('GET', `/api/v4/projects/${projectId}/jobs/${buildId}/trace`);
  assert.equal(reply.status, 200);
  return reply.text;
}

describe('tokens masked in traces, split across PATCHes', () => {
  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld();
  });
  after(() => world.stop());

  test("the runner's token, trigger tokens, dependency tokens and the configured instance tokens", async () => {
    const project = await world.api.createProject();
    const trigger = await world.api.request<{ token: string }>('POST', `/api/v4/projects/${project.id}/triggers`, { description: 'deploys' });
    assert.equal(trigger.status, 201);
    await world.api.createPipeline(project.id, { ci_config: TWO_STAGES });
    const runner = await RunnerSimulator.register(world.coordinator.url, project.runners_token, { runUntagged: true });
    after(() => runner.close());
    const compile = await runner.requestBuild();
    assert.ok(compile);
    assert.equal((await runner.putBuild(compile.id, { state: 'success', trace: 'compiled\n' })).status, 200);
    const deploy = await runner.requestBuild();
    assert.ok(deploy);
    const dependencyToken = deploy.depends_on_builds.find((dependency) => dependency.name === 'compile')?.token;
    assert.equal(dependencyToken, compile.token, 'the build receives its dependency token');

    const secrets = [runner.token, trigger.body.token, dependencyToken, world.coordinator.registrationToken, world.coordinator.adminToken];
    const pieces = [
      ...splitPieces(secrets, (secret) => Math.floor(secret.length / 2)),
      ...splitPieces(secrets, () => 1),
      ...splitPieces(secrets, (secret) => secret.length - 1),
    ];
    // A token-shaped string that is no token of ours stays as it is.
    const lookalike = randomBytes(15).toString('hex');
    pieces.push(`not a token: ${lookalike}\n`);
    await patchV1(runner, deploy, pieces);
    const expected = masked(pieces.join(''), secrets);
    assert.ok(expected.includes(lookalike));
    assert.equal(await shownTrace(world.api, project.id, deploy.id), expected);
    assert.equal(await storedTrace(world.coordinator.db, deploy.id), expected, 'the database holds the masked bytes only');

    const full = `${pieces.join('')}final ${runner.token} ${trigger.body.token}\n`;
    assert.equal((await runner.putBuild(deploy.id, { state: 'success', trace: full })).status, 200);
    assert.equal(await shownTrace(world.api, project.id, deploy.id), masked(full, secrets), 'the final PUT masks them too');
  });

  test('a PATCH of one hex run as long as a body may be is stored (202), the token at its end masked', async () => {
    const { build, runner, projectId } = await world.builds.start();
    // A regular expression over such a run overflowed the regexp engine's stack (a 500).
    const run = 'a'.repeat(world.coordinator.config.maxBodyBytes - runner.token.length - 1);
    await patchV1(runner, build, [`${run}${runner.token}\n`]);
    const trace = await shownTrace(world.api, projectId, build.id);
    assert.equal(trace.length, run.length + runner.token.length + 1);
    assert.ok(trace.endsWith(`a${'x'.repeat(runner.token.length)}\n`), 'the token ending the run is masked');
  });

  test('a glrt- runner token and the job token through runner API v4', async () => {
    const project = await world.api.createProject();
    const created = await world.api.request<{ token: string }>('POST', '/api/v4/user/runners', { runner_type: 'project_type', project_id: project.id, run_untagged: true });
    assert.equal(created.status, 201, created.text);
    const glrt = created.body.token;
    assert.match(glrt, /^glrt-/);
    await world.api.createPipeline(project.id, { ci_config: 'rspec:\n  script: rspec\n' });
    const runner = new RunnerV4Simulator(world.coordinator.url, glrt);
    after(() => runner.close());
    const job = await runner.requestJob();
    assert.ok(job);
    const secrets = [glrt, job.token];
    // Split inside the prefix, right after it, and in the hex part.
    const pieces = [...splitPieces(secrets, () => 3), ...splitPieces(secrets, () => 5), ...splitPieces(secrets, (secret) => secret.length - 4)];
    let offset = 0;
    for (const piece of pieces) {
      const reply = await runner.patchTrace(job, offset, Buffer.from(piece));
      assert.equal(reply.status, 202, reply.body.toString());
      offset += Buffer.byteLength(piece);
    }
    assert.equal(await shownTrace(world.api, project.id, job.id), masked(pieces.join(''), secrets));
  });
});

describe('generated instance tokens, known to a later server by their digests only', () => {
  let first: TestCoordinator;
  let later: TestCoordinator;
  before(async () => {
    first = await startTestCoordinator({ CI_REGISTRATION_TOKEN: '', CI_ADMIN_TOKEN: '' });
    assert.ok(first.generatedTokens.registrationToken && first.generatedTokens.adminToken, 'both tokens generated');
    // Another server on the same database and key, started without the tokens: it only has their digests.
    later = await startTestCoordinator({
      DATABASE_URL: first.config.databaseUrl,
      CI_SECRET_KEY_FILE: path.join(first.dataDir, 'secret.key'),
      CI_REGISTRATION_TOKEN: '',
      CI_ADMIN_TOKEN: '',
    });
    assert.deepEqual(later.generatedTokens, {});
    assert.deepEqual(later.tokens.plainTokens, []);
  });
  after(async () => {
    await later?.stop();
    await first?.stop();
  });

  for (const server of ['the server that generated them', 'a server started later'] as const) {
    test(`masked split across PATCHes on ${server}`, async () => {
      const coordinator = server === 'a server started later' ? later : first;
      const tokens = [first.generatedTokens.registrationToken!, first.generatedTokens.adminToken!];
      const api = new UserApi(coordinator.url, tokens[1]!);
      const project = await api.createProject();
      await api.createPipeline(project.id, { ci_config: 'rspec:\n  script: rspec\n' });
      const runner = await RunnerSimulator.register(coordinator.url, project.runners_token, { runUntagged: true });
      after(() => runner.close());
      const build = await runner.requestBuild();
      assert.ok(build);
      const pieces = [...splitPieces(tokens, (secret) => Math.floor(secret.length / 2)), ...splitPieces(tokens, () => 1)];
      await patchV1(runner, build, pieces);
      assert.equal(await shownTrace(api, project.id, build.id), masked(pieces.join(''), tokens));
    });
  }
});
