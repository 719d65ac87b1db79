// `make mock` is a runner developer's sandbox: Prism serving openapi.yaml's examples. These tests point
// the protocol-faithful runner simulator at Prism (started exactly as `make mock` starts it) and check
// that a runner gets through a whole build on the examples alone, and that the documented `Prefer`
// switches give the statuses and headers a runner developer needs to test the edge cases.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { AS_MEANT, DOCUMENTED, inForm, localizeCommand } from './support/buildsApiDoc.js';
import { requireCurl, runCurl } from './support/curl.js';
import { startPrismMock, type PrismMock } from './support/prism.js';
import { offsetFromRangeHeader, RUNNER_USER_AGENT, RunnerSimulator, type HttpReply } from './support/runnerSimulator.js';
import { unzipToMap, zipToBuffer } from './support/zip.js';

/** Prism adds this header when its own example breaks the schema it documents. */
function assertNoViolations(reply: HttpReply): void {
  assert.equal(reply.headers['sl-violations'], undefined, `sl-violations: ${String(reply.headers['sl-violations'])}`);
}

describe('make mock: Prism serves openapi.yaml to a runner', () => {
  let prism: PrismMock;
  const runners: RunnerSimulator[] = [];

  async function registeredRunner(): Promise<RunnerSimulator> {
    // The simulator registers through `runners/register.json`, as the real runner does.
    const runner = await RunnerSimulator.register(prism.url, 'any-registration-token', { description: 'mock-runner', runUntagged: true });
    runners.push(runner);
    return runner;
  }

  before(async () => {
    prism = await startPrismMock();
  });
  after(async () => {
    for (const runner of runners) runner.close();
    await prism?.stop();
  });

  test('a runner registers, takes the example build, runs it and reports success, on the .json paths', async () => {
    const runner = await registeredRunner();
    const build = await runner.requestBuild();
    assert.ok(build, 'builds/register.json gave no build');
    // Without GIT_STRATEGY=none a real runner would try to clone the example repo_url and fail.
    assert.ok(build.variables.some((v) => v.key === 'GIT_STRATEGY' && v.value === 'none'), 'GIT_STRATEGY=none missing');
    const dependency = build.depends_on_builds.find((d) => d.artifacts_file !== null);
    assert.ok(dependency, 'the example build depends on no build with artifacts');

    const result = await runner.runBuild(build, {
      output: ['$ make\n', 'compiled\n'],
      artifacts: { files: { 'out.txt': 'rspec results\n' } },
      finalOutput: 'Job succeeded\n',
    });

    assert.equal(result.state, 'success', result.failureReason);
    assert.deepEqual(result.finalUpdate, { outcome: 'ok', attempts: 1, status: 200 });
    // The example dependency's archive is an empty zip, so the runner's unzip succeeds with no files.
    assert.deepEqual(result.downloaded, { [dependency.name]: {} });
    assert.ok(result.patches.length > 0);
    for (const patch of result.patches) {
      assert.equal(patch.status, 202);
      assert.equal(patch.buildStatus, 'running');
      assert.match(patch.serverRange ?? '', /^0-\d+$/);
    }
    assert.deepEqual(
      result.uploads.map((upload) => upload.status),
      [201],
    );
    assert.deepEqual(
      runner.exchanges.map(({ method, path, status }) => `${method} ${path.replace(/\?.*/, '')} ${status}`),
      [
        'POST /ci/api/v1/builds/register.json 201',
        `PUT /ci/api/v1/builds/${build.id}.json 200`,
        `GET /ci/api/v1/builds/${dependency.id}/artifacts 200`,
        ...result.patches.map(() => `PATCH /ci/api/v1/builds/${build.id}/trace.txt 202`),
        `POST /ci/api/v1/builds/${build.id}/artifacts 201`,
        `PUT /ci/api/v1/builds/${build.id}.json 200`,
      ],
    );
    // Every request and reply of the run, checked by Prism against openapi.yaml.
    assert.deepEqual(prism.violations(), []);
  });

  test('a trace PATCH answers 202 with Build-Status and Range headers', async () => {
    const runner = await registeredRunner();
    const reply = await runner.patchTrace(1, 'build-token-1', 0, 'Running with gitlab-ci-multi-runner\n');
    assert.equal(reply.status, 202);
    assert.equal(reply.buildStatus, 'running');
    assert.match(reply.range ?? '', /^0-\d+$/);
    assertNoViolations(reply);
  });

  test('a dependency download answers 200 with an attachment that unzips', async () => {
    const runner = await registeredRunner();
    const reply = await runner.downloadArtifacts(2, 'build-token-2');
    assert.equal(reply.status, 200);
    assert.equal(reply.headers['content-type'], 'application/octet-stream');
    assert.match(reply.headers['content-disposition'] ?? '', /^attachment; filename=/);
    assert.deepEqual(await unzipToMap(reply.body), {});
    assertNoViolations(reply);
  });

  test('Prefer: code=204 on builds/register.json gives an empty 204', async () => {
    const runner = await registeredRunner();
    const reply = await runner.send(
      'POST',
      'builds/register.json',
      { 'User-Agent': RUNNER_USER_AGENT, 'Content-Type': 'application/json', Prefer: 'code=204' },
      Buffer.from(JSON.stringify({ token: runner.token })),
    );
    assert.equal(reply.status, 204);
    assert.equal(reply.body.length, 0);
    assertNoViolations(reply);
  });

  test('Prefer: code=416 on a trace PATCH gives a Range header the runner can resend from', async () => {
    const runner = await registeredRunner();
    const reply = await runner.send(
      'PATCH',
      'builds/1/trace.txt',
      { 'User-Agent': RUNNER_USER_AGENT, 'Content-Type': 'text/plain', 'Build-Token': 'build-token-1', 'Content-Range': '5-10', Prefer: 'code=416' },
      Buffer.from('chunk'),
    );
    assert.equal(reply.status, 416);
    const range = reply.headers['range'];
    assert.ok(typeof range === 'string' && range.includes('-'), `Range: ${String(range)}`);
    assert.ok(offsetFromRangeHeader(range) >= 0);
    assertNoViolations(reply);
  });

  test("GitLab's documented curl calls, as forms and query strings, are valid requests for the mock", async () => {
    await requireCurl();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mock-curl-'));
    try {
      const filePath = path.join(dir, 'artifacts.zip');
      fs.writeFileSync(filePath, await zipToBuffer({ 'out.txt': 'out\n' }));
      const curl = async (command: string) => (await runCurl(localizeCommand(command, { host: prism.url, token: 'runner-token', buildToken: 'build-token-1', buildId: 1, filePath }), dir)).status;
      const calls: [string, number][] = [
        [DOCUMENTED.registerRunner, 201],
        [DOCUMENTED.registerBuild, 201],
        [DOCUMENTED.updateBuild, 200],
        [AS_MEANT.appendTrace, 202],
        [DOCUMENTED.uploadArtifacts, 201],
        // OpenAPI 3.0 gives a GET no body, so Prism refuses one: the mock's download takes its token from the query string.
        [inForm(AS_MEANT.downloadArtifacts, 'query'), 200],
        [DOCUMENTED.deleteArtifacts, 200],
        [DOCUMENTED.deleteRunner, 200],
        // What `curl --data` sends as it is (`,` `:` `/` `(`), and tags as a comma list.
        ['curl --request POST "https://gitlab.example.com/ci/api/v1/runners/register" --data "token=t0k3n" --data "tag_list=docker,linux" --data "description=shell (linux): /srv/runner" --data "run_untagged=false"', 201],
        ['curl --request PUT "https://gitlab.example.com/ci/api/v1/builds/1234" --data "token=t0k3n" --data "state=success" --data "trace=$ make: ok (100%), a/b #1"', 200],
      ];
      for (const form of ['multipart', 'urlencoded', 'json', 'query'] as const) {
        for (const [command, status] of calls) assert.equal(await curl(inForm(command, form)), status, `${form}: ${inForm(command, form)}`);
      }
      assert.deepEqual(prism.violations(), []);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
