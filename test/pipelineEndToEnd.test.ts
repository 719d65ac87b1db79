import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { UserApi } from './support/userApi.js';
import { RunnerSimulator, type BuildPayload, type BuildRunResult, type BuildScript } from './support/runnerSimulator.js';
import { unzipToMap } from './support/zip.js';

const CI_CONFIG = `
stages: [build, test, deploy]
variables:
  GIT_STRATEGY: none
.ruby: &ruby
  tags: [ruby]
compile:
  stage: build
  script: make
  artifacts:
    name: compiled
    paths: [out/]
rspec:
  <<: *ruby
  stage: test
  script: bundle exec rspec
  dependencies: [compile]
  artifacts:
    paths: [report.xml]
lint:
  stage: test
  tags: [linux]
  script: make lint
  dependencies: []
production:
  stage: deploy
  script: make deploy
  when: manual
`;

/** What each job "does" on the simulated runner: its output, one PATCH per chunk, and its files. */
const SCRIPTS: Record<string, BuildScript> = {
  compile: {
    output: ['$ make\n', 'cc -o out/app main.c — compilé ✓\n', ''],
    artifacts: { files: { 'out/app': 'ELF binary', 'out/version.txt': '1.0.0\n' } },
  },
  rspec: {
    output: ['$ bundle exec rspec\n', '42 examples, 0 failures\n'],
    artifacts: { files: { 'report.xml': '<testsuite tests="42"/>' } },
  },
  lint: { output: ['$ make lint\n', 'no offenses\n'] },
};

interface Ran {
  runner: string;
  build: BuildPayload;
  result: BuildRunResult;
}

describe('two runners complete a three-stage pipeline', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  const ran: Ran[] = [];
  let projectId = 0;
  let pipelineId = 0;

  before(async () => {
    coordinator = await startTestCoordinator();
    api = new UserApi(coordinator.url, coordinator.adminToken);
    const project = await api.createProject({ name: 'e2e', repo_url: 'file:///srv/repos/e2e.git', ci_config: CI_CONFIG });
    projectId = project.id;
    const options = { updateRetryDelayMs: 20, artifactsRetryDelayMs: 10, pollIntervalMs: 20 };
    const rubyRunner = await RunnerSimulator.register(coordinator.url, coordinator.registrationToken, { description: 'ruby', tagList: ['ruby'], runUntagged: true }, options);
    const linuxRunner = await RunnerSimulator.register(coordinator.url, project.runners_token, { description: 'linux', tagList: ['linux'], runUntagged: true }, options);
    pipelineId = (await api.createPipeline(projectId, { ci_config: CI_CONFIG })).id;

    // Both runners poll until the pipeline has nothing left for anyone (an idle poll is so cheap
    // that counting idle polls alone would stop a runner while the other's build still runs).
    const unfinished = async () => ['created', 'pending', 'running'].includes((await api.getPipeline(projectId, pipelineId)).status);
    const work = async (name: string, runner: RunnerSimulator) => {
      for (let idle = 0, turns = 0; idle < 10 && turns < 1000; turns++) {
        const build = await runner.requestBuild();
        if (!build) {
          idle = (await unfinished()) ? 0 : idle + 1;
          await new Promise((resolve) => setTimeout(resolve, 20));
          continue;
        }
        idle = 0;
        const script = SCRIPTS[build.name];
        assert.ok(script, `unexpected build ${build.name}`);
        ran.push({ runner: name, build, result: await runner.runBuild(build, script) });
      }
    };
    try {
      await Promise.all([work('ruby', rubyRunner), work('linux', linuxRunner)]);
    } finally {
      rubyRunner.close();
      linuxRunner.close();
    }
  });
  after(() => coordinator.stop());

  test('every build ran once, on a runner whose tags fit, and succeeded', () => {
    assert.deepEqual(ran.map((r) => r.build.name).sort(), ['compile', 'lint', 'rspec']);
    for (const { result } of ran) {
      assert.equal(result.state, 'success');
      assert.equal(result.finalUpdate.outcome, 'ok');
      assert.ok(result.patches.every((p) => p.status === 202), JSON.stringify(result.patches));
    }
    assert.equal(ran.find((r) => r.build.name === 'rspec')?.runner, 'ruby');
    assert.equal(ran.find((r) => r.build.name === 'lint')?.runner, 'linux');
  });

  test('the build payload carries the predefined variables, the YAML ones and the repo URL as given', () => {
    const rspec = ran.find((r) => r.build.name === 'rspec')!.build;
    assert.equal(rspec.repo_url, 'file:///srv/repos/e2e.git');
    const variables = Object.fromEntries(rspec.variables.map((v) => [v.key, v.value]));
    assert.equal(variables.CI_BUILD_NAME, 'rspec');
    assert.equal(variables.CI_BUILD_STAGE, 'test');
    assert.equal(variables.CI_BUILD_REF_NAME, 'master');
    assert.equal(variables.GIT_STRATEGY, 'none');
    assert.equal(variables.CI_BUILD_TOKEN, rspec.token);
    assert.deepEqual(rspec.depends_on_builds.map((d) => d.name), ['compile']);
  });

  test('rspec downloaded the artifacts of compile; lint, with dependencies: [], downloaded none', async () => {
    const rspec = ran.find((r) => r.build.name === 'rspec')!.result;
    assert.deepEqual(Object.keys(rspec.downloaded), ['compile']);
    assert.equal(rspec.downloaded.compile?.['out/version.txt']?.toString(), '1.0.0\n');
    assert.deepEqual(ran.find((r) => r.build.name === 'lint')!.result.downloaded, {});
  });

  test('the manual deploy waits, and the pipeline is done', async () => {
    const jobs = await api.listJobs(projectId, pipelineId);
    const byName = Object.fromEntries(jobs.map((job) => [job.name, job]));
    assert.deepEqual(jobs.map((job) => job.name), ['compile', 'rspec', 'lint', 'production']);
    assert.equal(byName.production?.status, 'skipped');
    assert.equal(byName.production?.when, 'manual');
    assert.equal(byName.production?.runner, null);
    for (const name of ['compile', 'rspec', 'lint']) {
      assert.equal(byName[name]?.status, 'success');
      assert.ok(byName[name]?.started_at && byName[name]?.finished_at);
    }
    assert.equal(byName.rspec?.runner?.description, 'ruby');
    assert.equal((await api.getPipeline(projectId, pipelineId)).status, 'success');
  });

  test('traces and artifacts are readable through the user API', async () => {
    for (const { build, result } of ran) {
      const trace = await api.request('GET', `/api/v4/projects/${projectId}/jobs/${build.id}/trace`);
      assert.equal(trace.status, 200);
      assert.match(trace.headers.get('content-type') ?? '', /^text\/plain/);
      assert.equal(trace.text, result.trace);
    }
    const compile = ran.find((r) => r.build.name === 'compile')!.build;
    const job = await api.request<{ artifacts_file: { filename: string; size: number } }>('GET', `/api/v4/projects/${projectId}/jobs/${compile.id}`);
    assert.equal(job.body.artifacts_file.filename, 'compiled.zip');
    const download = await fetch(`${coordinator.url}/api/v4/projects/${projectId}/jobs/${compile.id}/artifacts`, {
      headers: { 'PRIVATE-TOKEN': coordinator.adminToken },
    });
    assert.equal(download.status, 200);
    const files = await unzipToMap(Buffer.from(await download.arrayBuffer()));
    assert.equal(files['out/app']?.toString(), 'ELF binary');
    assert.equal(job.body.artifacts_file.size, Number(download.headers.get('content-length')));
  });
});
