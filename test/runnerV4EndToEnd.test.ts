// Acceptance of the runner API v4: the protocol-faithful gitlab-runner 17.11 simulator
// (test/support/runnerV4Simulator.ts) registers, polls with last_update, streams its log with
// inclusive ranges, keeps alive, finishes with a checksum, uploads and downloads artifacts and
// cancels gracefully, against a real server; and a mixed fleet (the v1 simulator beside it)
// shares one pipeline's jobs.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { UserApi } from './support/userApi.js';
import { RunnerSimulator, type BuildScript } from './support/runnerSimulator.js';
import { RunnerV4Simulator, type JobResponse, type JobRunResult, type JobScript } from './support/runnerV4Simulator.js';
import { storedTrace } from './support/runnerApi.js';

const THREE_STAGES = `
stages: [build, test, deploy]
variables:
  GIT_STRATEGY: none
compile:
  stage: build
  script: make
  artifacts:
    name: binaries
    paths: [out/]
    expire_in: 1 week
rspec:
  stage: test
  script: [bundle exec rspec]
  after_script: [rm -rf tmp]
  dependencies: [compile]
lint:
  stage: test
  script: make lint
  dependencies: []
deploy:
  stage: deploy
  script: make deploy
`;

const SCRIPTS: Record<string, JobScript> = {
  compile: { output: ['$ make\n', 'cc -o out/app main.c — compilé ✓\n', ''], artifacts: { 'out/app': 'ELF binary', 'out/VERSION': '1.0.0\n' } },
  rspec: { output: ['$ bundle exec rspec\n', '42 examples, 0 failures\n'], afterScriptOutput: 'cleaned\n' },
  lint: { output: ['$ make lint\n', 'no offenses\n'] },
  deploy: { output: ['$ make deploy\n', 'deployed\n'] },
};

/** Fast intervals: one server second is 2 ms here. */
const FAST = { secondMs: 2 };

interface Ran {
  runner: string;
  job: JobResponse;
  result: JobRunResult;
}

/** Polls (`take`) and runs what comes until the runner has been idle for a while; bounded by turns. */
async function pollAndRun<T>(take: () => Promise<T | null>, run: (job: T) => Promise<void>): Promise<void> {
  for (let idle = 0, turns = 0; idle < 15 && turns < 200; turns++) {
    const job = await take();
    if (!job) {
      idle++;
      await new Promise((resolve) => setTimeout(resolve, 20));
      continue;
    }
    idle = 0;
    await run(job);
  }
}

/** The v4 runner polls (with last_update) and runs each job with its script. */
function work(name: string, runner: RunnerV4Simulator, ran: Ran[], scripts: Record<string, JobScript>): Promise<void> {
  return pollAndRun(
    () => runner.requestJob(),
    async (job) => {
      const script = scripts[job.job_info.name];
      assert.ok(script, `unexpected job ${job.job_info.name}`);
      ran.push({ runner: name, job, result: await runner.runJob(job, script) });
    },
  );
}

describe('a v4 runner runs a three-stage pipeline end to end', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let runner: RunnerV4Simulator;
  const ran: Ran[] = [];
  let projectId = 0;
  let pipelineId = 0;
  let idleLastUpdate: string | undefined;

  before(async () => {
    coordinator = await startTestCoordinator();
    api = new UserApi(coordinator.url, coordinator.adminToken);
    const project = await api.createProject({ name: 'e2e-v4', repo_url: 'https://git.example.com/e2e-v4.git', ci_config: THREE_STAGES });
    projectId = project.id;
    // The registration token, and the URL with a trailing /ci, as people often configure it.
    runner = await RunnerV4Simulator.register(`${coordinator.url}/ci/`, coordinator.registrationToken, { description: 'v4-shell', locked: false }, FAST);
    assert.equal(await runner.requestJob(), null);
    idleLastUpdate = runner.lastUpdate;
    pipelineId = (await api.createPipeline(projectId, { ci_config: THREE_STAGES })).id;
    try {
      await work('v4', runner, ran, SCRIPTS);
    } finally {
      runner.close();
    }
  });
  after(() => coordinator.stop());

  test('registration gave an id and a token; an idle poll gave X-GitLab-Last-Update, sent back as last_update', () => {
    assert.ok(runner.id > 0);
    assert.ok(idleLastUpdate);
    const requests = runner.http.exchanges.filter((exchange) => exchange.path.endsWith('/api/v4/jobs/request'));
    assert.ok(requests.length > ran.length);
  });

  test('every job ran once, in stage order, and succeeded; the pipeline succeeded', async () => {
    assert.deepEqual(ran.map((r) => r.job.job_info.name).slice(0, 1), ['compile']);
    assert.deepEqual(ran.map((r) => r.job.job_info.name).sort(), ['compile', 'deploy', 'lint', 'rspec']);
    assert.equal(ran[ran.length - 1]?.job.job_info.name, 'deploy');
    for (const { result } of ran) {
      assert.equal(result.state, 'success');
      assert.equal(result.finalUpdate.outcome, 'ok');
      assert.ok(result.patches.every((patch) => patch.status === 202), JSON.stringify(result.patches));
    }
    assert.equal((await api.getPipeline(projectId, pipelineId)).status, 'success');
  });

  test('log patches carry inclusive ranges; the stored log is the runner\'s, byte for byte', async () => {
    for (const { job, result } of ran) {
      let offset = 0;
      for (const patch of result.patches) {
        const [start, end] = patch.range.split('-').map(Number);
        assert.equal(start, offset, `${job.job_info.name}: ${patch.range}`);
        offset = end! + 1;
        assert.equal(patch.serverRange, `0-${offset}`);
      }
      assert.equal(await storedTrace(coordinator.db, job.id), result.log);
    }
  });

  test('a silent interval sent a keep-alive PUT; every final PUT carried the checksum and was taken at once', () => {
    const compile = ran.find((r) => r.job.job_info.name === 'compile')!.result;
    assert.ok(compile.puts.some((put) => !put.final && put.state === 'running' && put.status === 200 && put.jobStatus === 'running'));
    for (const { result } of ran) {
      const finals = result.puts.filter((put) => put.final);
      assert.deepEqual(finals.map((put) => [put.state, put.status, put.jobStatus]), [['success', 200, 'success']]);
    }
  });

  test('compile uploaded its archive; rspec downloaded it with compile\'s own token; lint, with dependencies: [], got none', () => {
    const compile = ran.find((r) => r.job.job_info.name === 'compile')!;
    assert.deepEqual(compile.result.uploads.map((upload) => upload.status), [201]);
    const rspec = ran.find((r) => r.job.job_info.name === 'rspec')!;
    assert.deepEqual(rspec.job.dependencies.map((d) => [d.id, d.token, d.artifacts_file.filename]), [[compile.job.id, compile.job.token, 'binaries.zip']]);
    assert.equal(rspec.result.downloaded.compile?.['out/VERSION']?.toString(), '1.0.0\n');
    const lint = ran.find((r) => r.job.job_info.name === 'lint')!;
    assert.deepEqual(lint.job.dependencies, []);
    assert.deepEqual(lint.result.downloaded, {});
  });

  test('rspec ran its after_script step; the job JSON named it', () => {
    const rspec = ran.find((r) => r.job.job_info.name === 'rspec')!;
    assert.equal(rspec.result.afterScriptRan, true);
    assert.match(rspec.result.log, /Running after_script\n\$ rm -rf tmp\ncleaned\n/);
  });

  test('the jobs show in the user API as run by a v4 runner', async () => {
    const jobs = await api.listJobs(projectId, pipelineId);
    for (const job of jobs) {
      assert.equal(job.status, 'success');
      assert.equal(job.runner?.id, runner.id);
      assert.equal(job.runner?.api_version, 'v4');
    }
  });
});

describe('graceful and hard cancel of a v4 runner\'s job', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  before(async () => {
    coordinator = await startTestCoordinator();
    api = new UserApi(coordinator.url, coordinator.adminToken);
  });
  after(() => coordinator.stop());

  async function runCanceled(features: Record<string, boolean>) {
    const config = 'long:\n  script: [sleep 600]\n  after_script: [echo cleanup]\n';
    const project = await api.createProject({ ci_config: config });
    const runner = await RunnerV4Simulator.register(coordinator.url, project.runners_token, {}, { ...FAST, features });
    const pipeline = await api.createPipeline(project.id, { ci_config: config });
    const job = (await runner.requestJob())!;
    let canceledAs: string | undefined;
    const result = await runner.runJob(job, {
      output: ['$ sleep 600\n', 'still sleeping\n', 'never printed\n', 'nor this\n'],
      afterScriptOutput: 'cleaned up\n',
      beforeTick: async (tick) => {
        if (tick !== 1) return;
        canceledAs = (await api.request<{ status: string }>('POST', `/api/v4/projects/${project.id}/jobs/${job.id}/cancel`)).body.status;
      },
    });
    runner.close();
    const stored = await api.request<{ status: string }>('GET', `/api/v4/projects/${project.id}/jobs/${job.id}`);
    return { result, canceledAs, status: stored.body.status, pipeline: await api.getPipeline(project.id, pipeline.id), log: await storedTrace(coordinator.db, job.id) };
  }

  test('with cancel_gracefully: canceling, the runner stops its script, runs after_script, reports, and the job ends canceled', async () => {
    const { result, canceledAs, status, pipeline, log } = await runCanceled({ cancel_gracefully: true });
    assert.equal(canceledAs, 'canceling');
    assert.equal(result.gracefullyCanceled, true);
    assert.equal(result.afterScriptRan, true);
    assert.doesNotMatch(result.log, /never printed/);
    assert.match(log, /\$ echo cleanup\ncleaned up\n/, 'the after_script output reached the server');
    const final = result.puts.filter((put) => put.final);
    assert.deepEqual(final.map((put) => [put.state, put.status, put.jobStatus]), [['failed', 200, 'canceled']]);
    assert.equal(result.finalUpdate.failureReason, 'job_canceled');
    assert.equal(status, 'canceled');
    assert.equal(pipeline.status, 'canceled');
  });

  test('without it: canceled at once; the next patch aborts the job without after_script; the final PUT gets 403', async () => {
    const { result, canceledAs, status, log } = await runCanceled({ cancel_gracefully: false });
    assert.equal(canceledAs, 'canceled');
    assert.equal(result.state, 'canceled');
    assert.equal(result.gracefullyCanceled, false);
    assert.equal(result.afterScriptRan, false);
    assert.deepEqual(result.patches.map((patch) => [patch.status, patch.jobStatus]).pop(), [403, 'canceled']);
    assert.deepEqual(result.puts.filter((put) => put.final).map((put) => [put.state, put.status, put.jobStatus]), [['failed', 403, 'canceled']]);
    assert.equal(status, 'canceled');
    assert.doesNotMatch(log, /still sleeping/);
  });
});

describe('416 recovery: a patch whose reply was lost is not stored twice', () => {
  let coordinator: TestCoordinator;
  before(async () => {
    coordinator = await startTestCoordinator();
  });
  after(() => coordinator.stop());

  test('the runner sends the same bytes again, gets 416 with Range: 0-<its length>, moves on; the log is whole', async () => {
    const api = new UserApi(coordinator.url, coordinator.adminToken);
    const project = await api.createProject({ ci_config: 'job:\n  script: make\n' });
    const runner = await RunnerV4Simulator.register(coordinator.url, project.runners_token, {}, FAST);
    await api.createPipeline(project.id, { ci_config: 'job:\n  script: make\n' });
    const job = (await runner.requestJob())!;
    let delivered = false;
    const result = await runner.runJob(job, {
      output: ['first line\n', 'second line\n', 'third line\n'],
      // The second patch reaches the server once before the runner's own attempt: as if the
      // runner's earlier attempt was stored but its 202 never came back.
      beforePatch: async (offset, chunk) => {
        if (delivered || offset === 0) return;
        delivered = true;
        assert.equal((await runner.patchTrace(job, offset, chunk)).status, 202);
      },
    });
    runner.close();
    const mismatch = result.patches.find((patch) => patch.status === 416);
    assert.ok(mismatch, JSON.stringify(result.patches));
    const [start, end] = mismatch.range.split('-').map(Number);
    assert.equal(mismatch.serverRange, `0-${end! + 1}`, `416 for ${mismatch.range} names the stored length`);
    assert.ok(start! > 0);
    assert.equal(await storedTrace(coordinator.db, job.id), result.log);
    assert.equal(result.state, 'success');
    assert.deepEqual(result.puts.filter((put) => put.final).map((put) => put.status), [200]);
  });
});

describe('a mixed fleet: a v1 runner and a v4 runner share one pipeline', () => {
  let coordinator: TestCoordinator;
  const ranV4: Ran[] = [];
  const ranV1: { name: string; state: string }[] = [];
  let projectId = 0;
  let pipelineId = 0;
  let api: UserApi;

  const config = `
stages: [build, test]
variables:
  GIT_STRATEGY: none
compile:
  stage: build
  tags: [v1]
  script: make
  artifacts:
    paths: [out/]
unit:
  stage: test
  tags: [v4]
  script: make unit
docs:
  stage: test
  tags: [v4]
  script: make docs
  dependencies: []
integration:
  stage: test
  tags: [v1]
  script: make integration
`;
  const v1Scripts: Record<string, BuildScript> = {
    compile: { output: ['$ make\n', 'built\n'], artifacts: { files: { 'out/app': 'binary from v1' } } },
    integration: { output: ['$ make integration\n', 'ok\n'] },
  };
  const v4Scripts: Record<string, JobScript> = {
    unit: { output: ['$ make unit\n', 'ok\n'] },
    docs: { output: ['$ make docs\n', 'ok\n'] },
  };

  before(async () => {
    coordinator = await startTestCoordinator();
    api = new UserApi(coordinator.url, coordinator.adminToken);
    const project = await api.createProject({ name: 'mixed', ci_config: config });
    projectId = project.id;
    const v1 = await RunnerSimulator.register(coordinator.url, project.runners_token, { tagList: ['v1'] }, { updateRetryDelayMs: 20, artifactsRetryDelayMs: 10, pollIntervalMs: 20 });
    const v4 = await RunnerV4Simulator.register(coordinator.url, project.runners_token, { tagList: ['v4'] }, FAST);
    pipelineId = (await api.createPipeline(projectId, { ci_config: config })).id;
    const workV1 = () =>
      pollAndRun(
        () => v1.requestBuild(),
        async (build) => {
          ranV1.push({ name: build.name, state: (await v1.runBuild(build, v1Scripts[build.name])).state });
        },
      );
    try {
      await Promise.all([workV1(), work('v4', v4, ranV4, v4Scripts)]);
    } finally {
      v1.close();
      v4.close();
    }
  });
  after(() => coordinator.stop());

  test('each runner ran exactly its jobs, all succeeded, and the pipeline succeeded', async () => {
    assert.deepEqual(ranV1.map((r) => r.name).sort(), ['compile', 'integration']);
    assert.deepEqual(ranV4.map((r) => r.job.job_info.name).sort(), ['docs', 'unit']);
    assert.ok([...ranV1.map((r) => r.state), ...ranV4.map((r) => r.result.state)].every((state) => state === 'success'));
    assert.equal((await api.getPipeline(projectId, pipelineId)).status, 'success');
  });

  test('the v4 job depends on the v1 job and downloads its archive through v4; the listing names each API', async () => {
    const unit = ranV4.find((r) => r.job.job_info.name === 'unit')!;
    assert.deepEqual(unit.job.dependencies.map((d) => d.name), ['compile']);
    assert.equal(unit.result.downloaded.compile?.['out/app']?.toString(), 'binary from v1');
    const jobs = await api.listJobs(projectId, pipelineId);
    const apis = Object.fromEntries(jobs.map((job) => [job.name, job.runner?.api_version]));
    assert.deepEqual(apis, { compile: 'v1', unit: 'v4', docs: 'v4', integration: 'v1' });
  });
});
