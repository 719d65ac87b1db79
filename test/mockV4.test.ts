// `make mock` for runner API v4: Prism on openapi.yaml serves a realistic v4 job that gitlab-runner's
// Go structs decode (checked by the v4 simulator's decoder), and the documented statuses and headers
// of the job calls, as a runner developer asks for them with `Prefer: code=...`.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startPrismMock, type PrismMock } from './support/prism.js';
import { RunnerV4Simulator, decodeJobResponse } from './support/runnerV4Simulator.js';
import type { HttpReply } from './support/goHttp.js';

function assertNoViolations(reply: HttpReply): void {
  assert.equal(reply.headers['sl-violations'], undefined, `sl-violations: ${String(reply.headers['sl-violations'])}`);
}

describe('make mock: Prism serves the v4 job calls', () => {
  let prism: PrismMock;
  let runner: RunnerV4Simulator;
  before(async () => {
    prism = await startPrismMock();
    runner = await RunnerV4Simulator.register(prism.url, 'any-registration-token', { description: 'mock-runner' });
  });
  after(async () => {
    runner?.close();
    await prism?.stop();
  });

  test('jobs/request answers the example job, which the runner decodes and could run without git', async () => {
    const reply = await runner.sendJson('POST', 'jobs/request', { token: runner.token, info: {} }, { accept: true });
    assert.equal(reply.status, 201);
    assertNoViolations(reply);
    const job = decodeJobResponse(JSON.parse(reply.body.toString()));
    assert.ok(job.id > 0 && job.token !== '');
    assert.ok(job.variables.some((v) => v.key === 'GIT_STRATEGY' && v.value === 'none'), 'GIT_STRATEGY=none');
    assert.ok(job.variables.some((v) => v.key === 'CI_JOB_TOKEN' && v.masked));
    assert.deepEqual(job.steps.map((step) => step.name), ['script', 'after_script']);
    assert.ok(job.dependencies[0]?.artifacts_file.filename);
    assert.ok(job.features.failure_reasons.includes('script_failure'));
  });

  test('204 with X-GitLab-Last-Update, a log PATCH 202 and 416 with their headers, a PUT 200 and 202', async () => {
    const idle = await runner.http.send('POST', 'jobs/request', { 'Content-Type': 'application/json', Prefer: 'code=204' }, Buffer.from(JSON.stringify({ token: runner.token })));
    assert.equal(idle.status, 204);
    assert.ok(idle.headers['x-gitlab-last-update']);
    const job = { id: 3, token: 'job-token-3' };
    const patch = await runner.patchTrace(job, 0, Buffer.from('$ make\nBuild started\n'));
    assert.equal(patch.status, 202);
    assertNoViolations(patch);
    assert.deepEqual([patch.headers['job-status'], patch.headers['range'], patch.headers['x-gitlab-trace-update-interval']], ['running', '0-21', '60']);
    const mismatch = await runner.http.send('PATCH', 'jobs/3/trace', { 'Content-Type': 'text/plain', 'JOB-TOKEN': job.token, 'Content-Range': '5-9', Prefer: 'code=416' }, Buffer.from('hello'));
    assert.equal(mismatch.status, 416);
    assert.ok(mismatch.headers['range']);
    const done = await runner.updateJob(job, { state: 'success', output: { checksum: 'crc32:6a3b9b1c', bytesize: 21 } });
    assert.equal(done.status, 200);
    assert.equal(done.headers['job-status'], 'running');
    const again = await runner.http.send('PUT', 'jobs/3', { 'Content-Type': 'application/json', Prefer: 'code=202' }, Buffer.from(JSON.stringify({ token: job.token, state: 'success' })));
    assert.equal(again.status, 202);
    assert.ok(again.headers['x-gitlab-trace-update-interval']);
  });
});
