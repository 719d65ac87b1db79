// PATCH /ci/api/v1/builds/:id/trace.txt and the `trace` of PUT builds/:id, black-box through a real
// server. The T-numbers are GitLab 8.15's request specs (gitlab-ci-api-v1.md §8.3), X-numbers its
// additional checks (§8.9). A few states the API cannot reach (a project pending deletion, an erased
// build, a canceled build) are set directly in coordinator.db, as GitLab's specs set them on the model.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import type { BuildPayload, PatchReply, RunnerSimulator } from './support/runnerSimulator.js';
import { BuildStarter, ManualClock, type RunningBuild, startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import { UserApi } from './support/userApi.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;

describe('PATCH builds/:id/trace.txt', () => {
  let coordinator: TestCoordinator;
  let api: UserApi;
  let builds: BuildStarter;
  const clock = new ManualClock();

  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld({}, clock);
    ({ coordinator, api, builds } = world);
  });
  after(() => world.stop());

  const startBuild = () => builds.start();

  /** GitLab's fixture: a running build whose trace is `BUILD TRACE` (11 bytes). */
  async function startBuildWithTrace(): Promise<RunningBuild> {
    const running = await startBuild();
    const put = await running.runner.putBuild(running.build.id, { trace: 'BUILD TRACE' });
    assert.equal(put.status, 200);
    return running;
  }

  async function storedTrace(buildId: number): Promise<string> {
    const reply = await api.request('GET', `/api/v4/projects/${(await buildRow(buildId)).project_id}/jobs/${buildId}/trace`);
    assert.equal(reply.status, 200);
    return reply.text;
  }

  async function buildRow(buildId: number): Promise<{ updated_at: string; trace_length: number; project_id: number }> {
    return coordinator.db('builds').where({ id: buildId }).first();
  }

  /**
   * GitLab's `patch_the_trace`: sent at the build's updated_at + `interval` (the clock is set
   * there first), with Content-Range `<stored length>-<stored length + content length - 1>`.
   */
  async function patchTheTrace({ build, runner }: RunningBuild, content: string, interval: number): Promise<PatchReply> {
    const row = await buildRow(build.id);
    clock.set(new Date(Date.parse(row.updated_at) + interval));
    const length = Buffer.byteLength(content);
    const range = `${row.trace_length}-${row.trace_length + length - 1}`;
    return runner.patchTrace(build.id, build.token, row.trace_length, content, { contentRange: range });
  }

  /** GitLab's `force_patch_the_trace`: two empty patches at the stored length. */
  async function forcePatchTheTrace(running: RunningBuild, interval: number): Promise<PatchReply[]> {
    return [await patchTheTrace(running, '', interval), await patchTheTrace(running, '', interval)];
  }

  /** GitLab's initial patch before every T-example: ` appended` with Content-Range 11-20. */
  async function initialPatch(running: RunningBuild, interval = 10 * SECOND): Promise<PatchReply> {
    const row = await buildRow(running.build.id);
    clock.set(new Date(Date.parse(row.updated_at) + interval));
    return running.runner.patchTrace(running.build.id, running.build.token, 11, ' appended', { contentRange: '11-20' });
  }

  test('T1: a valid patch answers 202 with Range and Build-Status, and appends', async () => {
    const running = await startBuildWithTrace();
    const reply = await initialPatch(running);
    assert.equal(reply.status, 202);
    assert.equal(reply.range, '0-20');
    assert.equal(reply.buildStatus, 'running');
    assert.equal(reply.headers['content-type'], 'text/plain');
    assert.equal(reply.body.toString(), '0-20');
    assert.equal(await storedTrace(running.build.id), 'BUILD TRACE appended');
  });

  describe('when the build was updated recently (10 s before each patch)', () => {
    test('T2, T3: a patch appends but leaves updated_at alone', async () => {
      const running = await startBuildWithTrace();
      assert.equal((await initialPatch(running)).status, 202);
      const before = (await buildRow(running.build.id)).updated_at;
      const reply = await patchTheTrace(running, ' appended', 10 * SECOND);
      assert.equal(reply.status, 202);
      assert.equal((await buildRow(running.build.id)).updated_at, before);
      assert.equal(await storedTrace(running.build.id), 'BUILD TRACE appended appended');
    });

    test('T4, T5: a force patch leaves updated_at and the trace alone', async () => {
      const running = await startBuildWithTrace();
      assert.equal((await initialPatch(running)).status, 202);
      const before = (await buildRow(running.build.id)).updated_at;
      for (const reply of await forcePatchTheTrace(running, 10 * SECOND)) assert.equal(reply.status, 202);
      assert.equal((await buildRow(running.build.id)).updated_at, before);
      assert.equal(await storedTrace(running.build.id), 'BUILD TRACE appended');
    });
  });

  describe('when the build was not updated recently (15 min before each patch)', () => {
    // GitLab's rule is "older than 15 minutes"; the spec's Timecop travel always lands a little
    // past that, so the patches here are sent at 15 min + 1 s.
    const interval = 15 * MINUTE + SECOND;

    test('T6, T7: a patch appends and bumps updated_at to now', async () => {
      const running = await startBuildWithTrace();
      assert.equal((await initialPatch(running, interval)).status, 202);
      const before = (await buildRow(running.build.id)).updated_at;
      const reply = await patchTheTrace(running, ' appended', interval);
      assert.equal(reply.status, 202);
      const after = (await buildRow(running.build.id)).updated_at;
      assert.notEqual(after, before);
      assert.equal(after, clock.now().toISOString());
      assert.equal(await storedTrace(running.build.id), 'BUILD TRACE appended appended');
    });

    test('T8, T9: a force patch bumps updated_at but leaves the trace alone', async () => {
      const running = await startBuildWithTrace();
      assert.equal((await initialPatch(running, interval)).status, 202);
      const before = (await buildRow(running.build.id)).updated_at;
      for (const reply of await forcePatchTheTrace(running, interval)) assert.equal(reply.status, 202);
      assert.notEqual((await buildRow(running.build.id)).updated_at, before);
      assert.equal(await storedTrace(running.build.id), 'BUILD TRACE appended');
    });

    test('exactly 15 minutes is still "recent"', async () => {
      const running = await startBuildWithTrace();
      const before = (await buildRow(running.build.id)).updated_at;
      assert.equal((await initialPatch(running, 15 * MINUTE)).status, 202);
      assert.equal((await buildRow(running.build.id)).updated_at, before);
    });
  });

  test('T10: the project was deleted → 403', async () => {
    const running = await startBuildWithTrace();
    // Projects are only marked pending_delete by an admin action the user API doesn't offer yet.
    await coordinator.db('projects').where({ id: running.projectId }).update({ pending_delete: true });
    const reply = await initialPatch(running);
    assert.equal(reply.status, 403);
    assert.deepEqual(JSON.parse(reply.body.toString()), { message: '403 Forbidden  - Project has been deleted!' });
  });

  test('T11: a force patch answers 202 with the headers and changes nothing', async () => {
    const running = await startBuildWithTrace();
    assert.equal((await initialPatch(running)).status, 202);
    const chunkCount = async () => Number((await coordinator.db('trace_chunks').where({ build_id: running.build.id }).count({ n: '*' }))[0]?.n);
    const chunksBefore = await chunkCount();
    for (const reply of await forcePatchTheTrace(running, 10 * SECOND)) {
      assert.equal(reply.status, 202);
      assert.equal(reply.range, '0-20');
      assert.equal(reply.buildStatus, 'running');
    }
    assert.equal(await storedTrace(running.build.id), 'BUILD TRACE appended');
    assert.equal(await chunkCount(), chunksBefore, 'keep-alives store no chunk');
  });

  for (const [name, contentRange] of [
    ['T12: a start past the stored length', '15-20'],
    ['T13: a start before the stored length', '8-20'],
  ] as const) {
    test(`${name} → 416 with Range 0-11, and nothing appended`, async () => {
      const running = await startBuildWithTrace();
      const reply = await running.runner.patchTrace(running.build.id, running.build.token, 0, ' appended', { contentRange });
      assert.equal(reply.status, 416);
      assert.equal(reply.range, '0-11');
      assert.equal(reply.headers['content-type'], 'application/json');
      assert.deepEqual(JSON.parse(reply.body.toString()), { message: '416 Range Not Satisfiable' });
      assert.equal(await storedTrace(running.build.id), 'BUILD TRACE');
    });
  }

  test('T14: no Content-Range → 400', async () => {
    const running = await startBuildWithTrace();
    const reply = await running.runner.patchTrace(running.build.id, running.build.token, 11, ' appended', { contentRange: null });
    assert.equal(reply.status, 400);
    assert.deepEqual(JSON.parse(reply.body.toString()), { message: '400 Missing header Content-Range' });
  });

  test('a garbled Content-Range (HTTP\'s `bytes a-b/n`) → 400 with a JSON message', async () => {
    const running = await startBuildWithTrace();
    for (const contentRange of ['bytes 11-20/*', '11', 'abc-def', '-5-10']) {
      const reply = await running.runner.patchTrace(running.build.id, running.build.token, 11, 'x', { contentRange });
      assert.equal(reply.status, 400, contentRange);
      assert.equal(typeof JSON.parse(reply.body.toString()).message, 'string');
    }
    assert.equal(await storedTrace(running.build.id), 'BUILD TRACE');
  });

  test('the body is taken raw whatever its Content-Type, JSON included', async () => {
    const running = await startBuild();
    const { build, runner } = running;
    const send = (offset: number, body: string, contentType?: string) =>
      runner.send('PATCH', `builds/${build.id}/trace.txt`, {
        'Build-Token': build.token,
        'Content-Range': `${offset}-${offset + body.length}`,
        ...(contentType ? { 'Content-Type': contentType } : {}),
      }, Buffer.from(body));
    assert.equal((await send(0, 'raw ', 'application/octet-stream')).status, 202);
    assert.equal((await send(4, 'bare ')).status, 202);
    let offset = 9;
    for (const json of ['{"a":1}', '[1]', 'not json']) {
      const reply = await send(offset, json, 'application/json');
      assert.equal(reply.status, 202, json);
      offset += json.length;
    }
    assert.equal(await storedTrace(build.id), 'raw bare {"a":1}[1]not json');
  });

  test('every Content-Type: the chunk is stored byte for byte, never decoded, and Range counts its bytes', async () => {
    const { build, runner } = await startBuild();
    const boundary = '------------------------d74496d66958873e';
    const chunks: [string | undefined, Buffer][] = [
      [undefined, Buffer.from('no type ')],
      ['text/plain', Buffer.from('Running git clone...\\n ')],
      ['text/plain; charset=utf-8', Buffer.from('héllo ✓ ')],
      // What `curl --data` sends: a form's syntax, kept as it is.
      ['application/x-www-form-urlencoded', Buffer.from('token=abc&state=success&a+b=%41%zz&&=\n')],
      ['application/octet-stream', Buffer.from([0x1b, 0x5b, 0x33, 0x32, 0x6d, 0x00, 0xff, 0xfe, 0x0d, 0x0a])],
      [`multipart/form-data; boundary=${boundary}`, Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="token"\r\n\r\nabc\r\n--${boundary}--\r\n`)],
      ['multipart/form-data', Buffer.from('no boundary at all ')],
      ['application/json', Buffer.from('{"token": "abc"}')],
      ['image/png', Buffer.from('\u0089PNG')],
    ];
    let length = 0;
    for (const [contentType, chunk] of chunks) {
      const reply = await runner.send('PATCH', `builds/${build.id}/trace.txt`, {
        'Build-Token': build.token,
        'Content-Range': `${length}-${length + chunk.length}`,
        ...(contentType ? { 'Content-Type': contentType } : {}),
      }, chunk);
      length += chunk.length;
      assert.equal(reply.status, 202, `${contentType}: ${reply.body.toString()}`);
      assert.equal(reply.headers.range, `0-${length}`, String(contentType));
    }
    const rows: { data: Uint8Array }[] = await coordinator.db('trace_chunks').where({ build_id: build.id }).orderBy('id').select('data');
    assert.ok(Buffer.concat(rows.map((row) => Buffer.from(row.data))).equals(Buffer.concat(chunks.map(([, chunk]) => chunk))));
    assert.equal((await buildRow(build.id)).trace_length, length);
  });

  test('a start beyond any integer → 416, not a crash', async () => {
    const running = await startBuildWithTrace();
    const reply = await running.runner.patchTrace(running.build.id, running.build.token, 0, 'x', {
      contentRange: '99999999999999999999999-99999999999999999999999',
    });
    assert.equal(reply.status, 416);
    assert.equal(reply.range, '0-11');
  });

  test('T15: an erased build → 403', async () => {
    const running = await startBuild();
    // Erasing a build is a GitLab UI action with no endpoint here; set it as the spec's factory does.
    await coordinator.db('builds').where({ id: running.build.id }).update({ erased_at: clock.now().toISOString() });
    const reply = await initialPatch(running);
    assert.equal(reply.status, 403);
    assert.deepEqual(JSON.parse(reply.body.toString()), { message: '403 Forbidden  - Build has been erased!' });
  });

  test('X9: a canceled build still takes the chunk and says `Build-Status: canceled`', async () => {
    const running = await startBuild();
    // Canceling is a user action with no endpoint yet; GitLab's cancel sets the status like this.
    await coordinator.db('builds').where({ id: running.build.id }).update({ status: 'canceled', finished_at: clock.now().toISOString() });
    const reply = await running.runner.patchTrace(running.build.id, running.build.token, 0, 'still going\n');
    assert.equal(reply.status, 202);
    assert.equal(reply.buildStatus, 'canceled');
    assert.equal(await storedTrace(running.build.id), 'still going\n');
  });

  test('X9: a finished build still takes the chunk, with its final status', async () => {
    const running = await startBuild();
    assert.equal((await running.runner.putBuild(running.build.id, { state: 'success' })).status, 200);
    const reply = await running.runner.patchTrace(running.build.id, running.build.token, 0, 'late\n');
    assert.equal(reply.status, 202);
    assert.equal(reply.buildStatus, 'success');
  });

  test('X9: unknown build → 404, wrong token → 403, checked in that order', async () => {
    const running = await startBuild();
    const unknown = await running.runner.patchTrace(999999, running.build.token, 0, 'x');
    assert.equal(unknown.status, 404);
    assert.deepEqual(JSON.parse(unknown.body.toString()), { message: '404 Not Found' });
    const unknownBadToken = await running.runner.patchTrace(999999, 'wrong', 0, 'x');
    assert.equal(unknownBadToken.status, 404);
    const wrong = await running.runner.patchTrace(running.build.id, 'wrong', 0, 'x');
    assert.equal(wrong.status, 403);
    assert.deepEqual(JSON.parse(wrong.body.toString()), { message: '403 Forbidden' });
    const missing = await running.runner.send('PATCH', `builds/${running.build.id}/trace.txt`, { 'Content-Type': 'text/plain', 'Content-Range': '0-1' }, Buffer.from('x'));
    assert.equal(missing.status, 403);
    // Another build's token opens only that build.
    const other = await startBuild();
    const crossed = await running.runner.patchTrace(running.build.id, other.build.token, 0, 'x');
    assert.equal(crossed.status, 403);
    assert.equal(await storedTrace(running.build.id), '');
  });

  test('X9: the token also works as a `token` query parameter (which wins over the header), and the runners token works', async () => {
    const running = await startBuild();
    const byQuery = await running.runner.send(
      'PATCH',
      `builds/${running.build.id}/trace.txt?token=${running.build.token}`,
      { 'Content-Type': 'text/plain', 'Content-Range': '0-4', 'Build-Token': 'wrong' },
      Buffer.from('abcd'),
    );
    assert.equal(byQuery.status, 202);
    const queryWins = await running.runner.send(
      'PATCH',
      `builds/${running.build.id}/trace.txt?token=wrong`,
      { 'Content-Type': 'text/plain', 'Content-Range': '4-5', 'Build-Token': running.build.token },
      Buffer.from('e'),
    );
    assert.equal(queryWins.status, 403);
    const byRunnersToken = await running.runner.patchTrace(running.build.id, running.runnersToken, 4, 'e');
    assert.equal(byRunnersToken.status, 202);
    assert.equal(await storedTrace(running.build.id), 'abcde');
  });

  test('X10: offsets and Range count bytes, not characters', async () => {
    const running = await startBuildWithTrace();
    const reply = await running.runner.patchTrace(running.build.id, running.build.token, 11, ' héllo');
    assert.equal(reply.status, 202);
    assert.equal(reply.range, '0-18'); // 11 + 7 bytes for 6 characters
    const next = await running.runner.patchTrace(running.build.id, running.build.token, 18, ' ✓');
    assert.equal(next.range, '0-22');
    assert.equal(await storedTrace(running.build.id), 'BUILD TRACE héllo ✓');
    const tooEarly = await running.runner.patchTrace(running.build.id, running.build.token, 17, 'x');
    assert.equal(tooEarly.status, 416);
    assert.equal(tooEarly.range, '0-22');
  });

  test('the runner\'s resend after a 416 lands where the server said', async () => {
    const running = await startBuild();
    assert.equal((await running.runner.patchTrace(running.build.id, running.build.token, 0, 'abc')).status, 202);
    const lost = await running.runner.patchTrace(running.build.id, running.build.token, 5, 'fg');
    assert.equal(lost.status, 416);
    assert.equal(lost.range, '0-3');
    const resend = await running.runner.patchTrace(running.build.id, running.build.token, 3, 'defg');
    assert.equal(resend.status, 202);
    assert.equal(resend.range, '0-7');
    assert.equal(await storedTrace(running.build.id), 'abcdefg');
  });

  test('of two PATCHes at the same offset, exactly one gets 202 and the other 416', async () => {
    const running = await startBuild();
    for (let round = 0; round < 10; round++) {
      const offset = round * 2;
      // Separate connections, sent together: the server must settle the race, not the client.
      const [a, b] = await Promise.all([patchOnOwnConnection(running, offset, 'A\n'), patchOnOwnConnection(running, offset, 'B\n')]);
      assert.deepEqual([a, b].map((reply) => reply.status).sort(), [202, 416], `round ${round}`);
      const loser = a.status === 416 ? a : b;
      assert.equal(loser.headers.range, `0-${offset + 2}`);
    }
    const trace = await storedTrace(running.build.id);
    assert.equal(trace.length, 20);
    assert.match(trace, /^([AB]\n){10}$/);
  });

  test('a 3 MiB append is accepted and stored whole', async () => {
    const running = await startBuild();
    const big = Buffer.alloc(3 * 1024 * 1024, 'a');
    const reply = await running.runner.patchTrace(running.build.id, running.build.token, 0, big);
    assert.equal(reply.status, 202);
    assert.equal(reply.range, `0-${big.length}`);
    const tail = await running.runner.patchTrace(running.build.id, running.build.token, big.length, 'end');
    assert.equal(tail.status, 202);
    const trace = await storedTrace(running.build.id);
    assert.equal(trace.length, big.length + 3);
    assert.ok(trace.endsWith('aaaend'));
  });

  test('the build token and the runners token are masked with x, length kept', async () => {
    const running = await startBuild();
    const { token } = running.build;
    const chunk = `token=${token}; runners=${running.runnersToken}; again ${token}\n`;
    const reply = await running.runner.patchTrace(running.build.id, running.build.token, 0, chunk);
    assert.equal(reply.status, 202);
    assert.equal(reply.range, `0-${chunk.length}`);
    const expected = `token=${'x'.repeat(token.length)}; runners=${'x'.repeat(running.runnersToken.length)}; again ${'x'.repeat(token.length)}\n`;
    assert.equal(await storedTrace(running.build.id), expected);
  });

  test('PUT builds/:id with a trace replaces the trace, masked, and later PATCHes continue from its length', async () => {
    const running = await startBuild();
    assert.equal((await running.runner.patchTrace(running.build.id, running.build.token, 0, 'partial\n')).status, 202);
    const full = `full trace with ${running.build.token} and ${running.runnersToken} — done\n`;
    assert.equal((await running.runner.putBuild(running.build.id, { trace: full })).status, 200);
    const masked = full.replace(running.build.token, 'x'.repeat(running.build.token.length)).replace(running.runnersToken, 'x'.repeat(running.runnersToken.length));
    assert.equal(await storedTrace(running.build.id), masked);
    const length = Buffer.byteLength(full);
    assert.equal((await buildRow(running.build.id)).trace_length, length);
    const next = await running.runner.patchTrace(running.build.id, running.build.token, length, 'more');
    assert.equal(next.status, 202);
    assert.equal(next.range, `0-${length + 4}`);
    // U2: a PUT without a trace leaves it alone; an empty trace empties it.
    assert.equal((await running.runner.putBuild(running.build.id, {})).status, 200);
    assert.equal(await storedTrace(running.build.id), `${masked}more`);
    assert.equal((await running.runner.putBuild(running.build.id, { trace: '' })).status, 200);
    assert.equal(await storedTrace(running.build.id), '');
    assert.equal((await buildRow(running.build.id)).trace_length, 0);
  });

  /** A PATCH on a connection of its own (no keep-alive agent), so two can race on the server. */
  function patchOnOwnConnection({ build }: RunningBuild, offset: number, text: string): Promise<{ status: number; headers: http.IncomingHttpHeaders }> {
    const body = Buffer.from(text);
    const url = new URL(`/ci/api/v1/builds/${build.id}/trace.txt`, coordinator.url);
    return new Promise((resolve, reject) => {
      const req = http.request(
        url,
        {
          method: 'PATCH',
          agent: false,
          headers: { 'Content-Type': 'text/plain', 'Build-Token': build.token, 'Content-Range': `${offset}-${offset + body.length}`, 'Content-Length': body.length },
        },
        (res) => {
          res.resume();
          res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  }
});

describe('PATCH builds/:id/trace.txt with MAX_BODY_SIZE_MB=1', () => {
  let coordinator: TestCoordinator;
  let builds: BuildStarter;
  let runner: RunnerSimulator;
  let build: BuildPayload;

  before(async () => {
    coordinator = await startTestCoordinator({ MAX_BODY_SIZE_MB: '1' });
    builds = new BuildStarter(coordinator.url, new UserApi(coordinator.url, coordinator.adminToken));
    ({ runner, build } = await builds.start());
  });
  after(async () => {
    builds.close();
    await coordinator.stop();
  });

  test('a chunk over the limit → 413 with a JSON message, and nothing stored', async () => {
    const reply = await runner.patchTrace(build.id, build.token, 0, Buffer.alloc(1024 * 1024 + 1, 'a'));
    assert.equal(reply.status, 413);
    assert.deepEqual(JSON.parse(reply.body.toString()), { message: '413 Request Entity Too Large' });
    const row = await coordinator.db('builds').where({ id: build.id }).first();
    assert.equal(Number(row.trace_length), 0);
  });

  test('a chunked body with no Content-Length is cut off at the limit while it streams', async () => {
    const url = new URL(`/ci/api/v1/builds/${build.id}/trace.txt`, coordinator.url);
    const outcome = await new Promise<{ status: number; body: string; sent: number }>((resolve, reject) => {
      let sent = 0;
      let answered = false;
      const req = http.request(
        url,
        { method: 'PATCH', agent: false, headers: { 'Content-Type': 'text/plain', 'Build-Token': build.token, 'Content-Range': '0-1', 'Transfer-Encoding': 'chunked' } },
        (res) => {
          answered = true;
          let body = '';
          res.on('data', (chunk: Buffer) => (body += chunk.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body, sent }));
        },
      );
      req.on('error', (err) => (answered ? undefined : reject(err)));
      // Keep sending until the server answers: it must not wait for the end of the body.
      const pump = () => {
        while (!answered && sent < 64 * 1024 * 1024) {
          sent += 64 * 1024;
          if (!req.write(Buffer.alloc(64 * 1024, 'a'))) return void req.once('drain', pump);
        }
        if (!answered) req.end();
      };
      pump();
    });
    assert.equal(outcome.status, 413);
    assert.deepEqual(JSON.parse(outcome.body), { message: '413 Request Entity Too Large' });
    assert.ok(outcome.sent < 64 * 1024 * 1024, 'answered before the client finished');
  });

  test('a chunk under the limit still works', async () => {
    const reply = await runner.patchTrace(build.id, build.token, 0, Buffer.alloc(1024 * 1024 - 1, 'a'));
    assert.equal(reply.status, 202);
  });
});
