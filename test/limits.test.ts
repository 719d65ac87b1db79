// Issue 9: limits per operation. Small bodies (64 KiB) for registration, runner and user-API calls;
// MAX_BODY_SIZE_MB only for the final PUT's trace and the trace PATCH; 1 MiB for a .gitlab-ci.yml;
// headers within 16 KiB; requests within their timeouts, answers (long polls, streams) not cut;
// multipart parts bounded. Everything over is refused with a JSON message while it streams.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import { rawExchange, type RawAnswer } from './support/rawHttp.js';
import { openEventStream } from './support/sse.js';

const KIB = 1024;
const MIB = 1024 * KIB;

function assertJsonRefusal(answer: RawAnswer, status: number, message: RegExp): void {
  assert.equal(answer.status, status, answer.body.toString().slice(0, 300));
  assert.equal(answer.headers['content-type'], 'application/json');
  assert.match((answer.json as { message: string }).message, message);
}

/** A JSON body of about `bytes` bytes that is valid for the operation apart from its size. */
function paddedJson(fields: Record<string, unknown>, bytes: number): string {
  return JSON.stringify({ ...fields, description: 'd'.repeat(bytes) });
}

describe('per-operation body limits', () => {
  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld();
  });
  after(() => world.stop());

  const runnerCount = async () => Number(((await world.coordinator.db('runners').count({ n: '*' })) as { n: number }[])[0]!.n);

  test('a 5 MB JSON body does not register a runner: 413 while it streams, nothing stored', async () => {
    const before = await runnerCount();
    const body = paddedJson({ token: world.coordinator.registrationToken }, 5 * 1000 * 1000);
    // Declared length: refused at once, before a byte of the body is read.
    const declared = await rawExchange(world.coordinator.url, {
      head: `POST /ci/api/v1/runners/register.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}`,
      body: [body.slice(0, 128 * KIB), 2000, body.slice(128 * KIB)],
    });
    assertJsonRefusal(declared, 413, /^413 Request Entity Too Large$/);
    assert.ok(declared.bytesWritten < 1 * MIB, `answered after ${declared.bytesWritten} bytes, not after the whole body`);
    // Chunked, no length: refused once the limit is passed, not at the end.
    const chunk = (text: string) => `${Buffer.byteLength(text).toString(16)}\r\n${text}\r\n`;
    const pieces: (string | number)[] = [];
    for (let at = 0; at < body.length; at += 32 * KIB) pieces.push(chunk(body.slice(at, at + 32 * KIB)), 5);
    const chunked = await rawExchange(world.coordinator.url, {
      head: 'POST /ci/api/v1/runners/register.json HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked',
      body: [...pieces, '0\r\n\r\n'],
      timeoutMs: 30_000,
    });
    assertJsonRefusal(chunked, 413, /^413 Request Entity Too Large$/);
    assert.ok(chunked.bytesWritten < 2 * MIB, `answered after ${chunked.bytesWritten} bytes`);
    assert.equal(await runnerCount(), before, 'no runner was registered');
  });

  test('the same registration within 64 KiB succeeds; just over it is refused', async () => {
    const within = await fetch(`${world.coordinator.url}/ci/api/v1/runners/register.json`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: paddedJson({ token: world.coordinator.registrationToken }, 60 * KIB),
    });
    assert.equal(within.status, 201, await within.text());
    const over = await fetch(`${world.coordinator.url}/ci/api/v1/runners/register.json`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: paddedJson({ token: world.coordinator.registrationToken }, 64 * KIB),
    });
    assert.equal(over.status, 413);
    assert.deepEqual(await over.json(), { message: '413 Request Entity Too Large' });
  });

  test('the user API and builds/register take 64 KiB, as JSON and as a form', async () => {
    const project = await world.api.request('POST', '/api/v4/projects', { name: 'n'.repeat(65 * KIB), repo_url: 'https://git.example.com/a.git' });
    assert.equal(project.status, 413);
    const form = await fetch(`${world.coordinator.url}/ci/api/v1/builds/register.json`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `token=abc&info[name]=${'n'.repeat(65 * KIB)}`,
    });
    assert.equal(form.status, 413);
    assert.equal(form.headers.get('content-type'), 'application/json');
  });

  test('a .gitlab-ci.yml may take 1 MiB: 200 KiB creates a pipeline, more than 1 MiB does not', async () => {
    const project = await world.api.createProject();
    const comment = `# ${'c'.repeat(200 * KIB)}\n`;
    const created = await world.api.request('POST', `/api/v4/projects/${project.id}/pipeline`, {
      ref: 'master',
      sha: '97de212e80737a608d939f648d959671fb0a0142',
      ci_config: `${comment}rspec:\n  script: rspec\n`,
    });
    assert.equal(created.status, 201, created.text.slice(0, 200));
    const refused = await world.api.request('POST', `/api/v4/projects/${project.id}/pipeline`, {
      ref: 'master',
      sha: '97de212e80737a608d939f648d959671fb0a0142',
      ci_config: `# ${'c'.repeat(MIB)}\nrspec:\n  script: rspec\n`,
    });
    assert.equal(refused.status, 413);
  });

  test('trace PATCHes and the final PUT take the large limit', async () => {
    const { build, runner } = await world.builds.start();
    const chunk = randomBytes(3 * MIB).toString('base64').slice(0, 3 * MIB);
    const patched = await runner.patchTrace(build.id, build.token, 0, chunk);
    assert.equal(patched.status, 202);
    assert.equal(patched.range, `0-${chunk.length}`);
    const put = await runner.putBuild(build.id, { state: 'success', trace: `${chunk}${chunk}` });
    assert.equal(put.status, 200, put.body.toString().slice(0, 200));
    const trace = await world.api.request('GET', `/api/v4/projects/${build.project_id}/jobs/${build.id}/trace`);
    assert.equal(trace.text.length, 2 * chunk.length);
  });

  test('an artifacts upload with more file parts than MAX_FILE_PARTS is refused', async () => {
    const { build } = await world.builds.start('rspec:\n  script: rspec\n  artifacts:\n    paths: [out]\n');
    const boundary = 'b0undary';
    const part = (i: number) => `--${boundary}\r\nContent-Disposition: form-data; name="extra${i}"; filename="x${i}"\r\nContent-Type: application/octet-stream\r\n\r\nbytes\r\n`;
    const body = `${Array.from({ length: 6 }, (_, i) => part(i)).join('')}--${boundary}--\r\n`;
    const answer = await rawExchange(world.coordinator.url, {
      head: `POST /ci/api/v1/builds/${build.id}/artifacts HTTP/1.1\r\nHost: x\r\nBuild-Token: ${build.token}\r\nContent-Type: multipart/form-data; boundary=${boundary}\r\nContent-Length: ${body.length}`,
      body: [body],
    });
    assertJsonRefusal(answer, 400, /file parts/);
  });

  test('headers over 16 KiB get 431 with a JSON message', async () => {
    const answer = await rawExchange(world.coordinator.url, {
      head: `GET /api/v4/projects HTTP/1.1\r\nHost: x\r\nX-Padding: ${'p'.repeat(17 * KIB)}`,
    });
    assertJsonRefusal(answer, 431, /^431 Request Header Fields Too Large/);
  });

  test('garbage instead of HTTP gets 400 with a JSON message', async () => {
    const answer = await rawExchange(world.coordinator.url, { head: 'HELLO\u0000 there' });
    assertJsonRefusal(answer, 400, /^400 Bad request/);
  });
});

describe('request timeouts (REQUEST_TIMEOUT_SECONDS=2, HEADERS_TIMEOUT_SECONDS=1)', () => {
  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld({ REQUEST_TIMEOUT_SECONDS: '2', HEADERS_TIMEOUT_SECONDS: '1' });
  });
  after(() => world.stop());

  test('headers that never end get 408 with a JSON message', async () => {
    const answer = await rawExchange(world.coordinator.url, {
      head: 'GET /api/v4/projects HTTP/1.1\r\nHost: x',
      unfinishedHead: true,
    });
    assertJsonRefusal(answer, 408, /^408 Request Timeout/);
  });

  test('a body that trickles in gets 408 with a JSON message, and nothing is stored', async () => {
    const { build } = await world.builds.start();
    const slow: (string | number)[] = [];
    for (let i = 0; i < 40; i++) slow.push('z', 250);
    const answer = await rawExchange(world.coordinator.url, {
      head: `PATCH /ci/api/v1/builds/${build.id}/trace.txt HTTP/1.1\r\nHost: x\r\nBuild-Token: ${build.token}\r\nContent-Range: 0-40\r\nContent-Length: 40`,
      body: slow,
      timeoutMs: 15_000,
    });
    assertJsonRefusal(answer, 408, /^408 Request Timeout/);
    const row: { trace_length: number } = await world.coordinator.db('builds').where({ id: build.id }).first('trace_length');
    assert.equal(Number(row.trace_length), 0);
  });

  test('an answer that takes longer than the request timeout is not cut (a live trace stream)', async () => {
    const { build, runner, projectId } = await world.builds.start();
    const stream = await openEventStream(`${world.coordinator.url}/api/v4/projects/${projectId}/jobs/${build.id}/trace/stream`, {
      'PRIVATE-TOKEN': world.coordinator.adminToken,
    });
    assert.equal(stream.status, 200);
    await sleep(3500);
    assert.equal((await runner.patchTrace(build.id, build.token, 0, 'still here\n')).status, 202);
    let seen = '';
    while (!seen.includes('still here')) {
      const event = await stream.next(5000);
      assert.ok(event, 'the stream is still open');
      if (event.event === 'trace') seen += (JSON.parse(event.data) as { text: string }).text;
    }
    await stream.close();
  });
});
