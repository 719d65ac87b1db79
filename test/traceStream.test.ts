// GET /api/v4/projects/:id/jobs/:job_id/trace/stream: a job's trace as Server-Sent Events, black-box
// through a real server while a simulated runner PATCHes the trace.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBuildWorld, type BuildWorld, type RunningBuild } from './support/runningBuilds.js';
import { openEventStream, traceData, type EventStream } from './support/sse.js';

const VIEWER_TOKEN = 'viewer-token-for-trace-stream';

describe('the live trace stream', () => {
  let world: BuildWorld;
  const streams: EventStream[] = [];
  before(async () => {
    world = await startBuildWorld({ CI_VIEWER_TOKEN: VIEWER_TOKEN });
  });
  after(async () => {
    for (const stream of streams) await stream.close();
    await world.stop();
  });

  const streamUrl = (projectId: number, jobId: number | string) => `${world.coordinator.url}/api/v4/projects/${projectId}/jobs/${jobId}/trace/stream`;
  const open = async (running: Pick<RunningBuild, 'projectId'> & { jobId: number | string }, headers: Record<string, string> = {}) => {
    const stream = await openEventStream(streamUrl(running.projectId, running.jobId), { 'PRIVATE-TOKEN': world.coordinator.adminToken, ...headers });
    streams.push(stream);
    return stream;
  };
  /** PATCHes `text` at the stored end of the trace, as the runner does; returns the new length. */
  const patch = async (running: RunningBuild, offset: number, bytes: Buffer | string) => {
    const reply = await running.runner.patchTrace(running.build.id, running.build.token, offset, bytes);
    assert.equal(reply.status, 202, reply.body.toString());
    return offset + Buffer.byteLength(bytes);
  };
  const finish = async (running: RunningBuild, state: 'success' | 'failed', trace?: string) => {
    const reply = await running.runner.putBuild(running.build.id, { state, ...(trace === undefined ? {} : { trace }) });
    assert.equal(reply.status, 200);
  };

  test('sends each PATCH as it lands, ids are byte offsets, and the stream ends when the job finishes', async () => {
    const running = await world.builds.start();
    const stream = await open({ projectId: running.projectId, jobId: running.build.id });
    assert.equal(stream.status, 200);
    assert.equal(stream.headers.get('content-type'), 'text/event-stream');
    assert.match(stream.headers.get('cache-control') ?? '', /no-cache/);

    let offset = await patch(running, 0, 'Running with gitlab-ci-multi-runner 1.11.5\n');
    const first = await stream.next();
    assert.deepEqual(traceData(first), { offset: 0, text: 'Running with gitlab-ci-multi-runner 1.11.5\n' });
    assert.equal(first?.id, String(offset));

    const coloured = '\x1b[32;1m$ make\x1b[0;m\r\ncompiling…\n';
    const before = offset;
    offset = await patch(running, offset, coloured);
    const second = await stream.next();
    assert.deepEqual(traceData(second), { offset: before, text: coloured }, 'escape codes and carriage returns arrive untouched');
    assert.equal(second?.id, String(offset));

    await finish(running, 'failed');
    const end = await stream.next();
    assert.equal(end?.event, 'end');
    assert.deepEqual(JSON.parse(end.data), { status: 'failed' });
    assert.equal(end.id, String(offset));
    assert.equal(await stream.next(), undefined, 'the server closes the stream after end');
  });

  test('resumes from Last-Event-ID with only what came after it', async () => {
    const running = await world.builds.start();
    const cut = await patch(running, 0, 'one\n');
    const end = await patch(running, cut, 'two\nthree\n');
    await finish(running, 'success');

    const stream = await open({ projectId: running.projectId, jobId: running.build.id }, { 'Last-Event-ID': String(cut) });
    const events = await stream.rest();
    assert.deepEqual(
      events.map((event) => [event.event, event.id, event.data]),
      [
        ['trace', String(end), JSON.stringify({ offset: cut, text: 'two\nthree\n' })],
        ['end', String(end), JSON.stringify({ status: 'success' })],
      ],
    );
  });

  test('never splits a UTF-8 character between two events', async () => {
    const running = await world.builds.start();
    const stream = await open({ projectId: running.projectId, jobId: running.build.id });
    const bytes = Buffer.from('café ✓\n', 'utf8');
    // The first PATCH ends inside "é" (0xC3 0xA9): the event waits for the rest of it.
    const split = bytes.indexOf(0xa9);
    let offset = await patch(running, 0, bytes.subarray(0, split));
    const first = traceData(await stream.next());
    assert.equal(first.text, 'caf');
    offset = await patch(running, offset, bytes.subarray(split));
    const second = traceData(await stream.next());
    assert.deepEqual(second, { offset: 3, text: 'é ✓\n' });
    await finish(running, 'success');
    assert.equal((await stream.next())?.event, 'end');
  });

  test('an erased trace is announced with reset before the end', async () => {
    const running = await world.builds.start();
    const length = await patch(running, 0, 'secret output\n');
    await finish(running, 'success');
    const erased = await world.api.request('POST', `/api/v4/projects/${running.projectId}/jobs/${running.build.id}/erase`);
    assert.equal(erased.status, 201);

    const stream = await open({ projectId: running.projectId, jobId: running.build.id }, { 'Last-Event-ID': String(length) });
    const events = await stream.rest();
    assert.deepEqual(
      events.map((event) => [event.event, event.id]),
      [
        ['reset', '0'],
        ['end', '0'],
      ],
    );
  });

  test('a job that is still pending streams nothing until it runs, then follows it', async () => {
    const { project, runner } = await world.builds.prepare();
    const jobs = await world.api.request<{ id: number; status: string }[]>('GET', `/api/v4/projects/${project.id}/jobs`);
    const job = jobs.body[0]!;
    assert.equal(job.status, 'pending');
    const stream = await open({ projectId: project.id, jobId: job.id });
    const build = await runner.requestBuild();
    assert.ok(build);
    const running: RunningBuild = { build, runner, runnersToken: project.runners_token, projectId: project.id };
    await patch(running, 0, 'picked up\n');
    assert.equal(traceData(await stream.next()).text, 'picked up\n');
    await finish(running, 'success');
    assert.equal((await stream.next())?.event, 'end');
  });

  test('the viewer token may follow a trace; no token, another token, bad ids and a bad Last-Event-ID are refused', async () => {
    const running = await world.builds.start();
    await patch(running, 0, 'hello\n');
    await finish(running, 'success');
    const job: { projectId: number; jobId: number | string } = { projectId: running.projectId, jobId: running.build.id };

    const asViewer = await open(job, { 'PRIVATE-TOKEN': VIEWER_TOKEN });
    assert.deepEqual(
      (await asViewer.rest()).map((event) => event.event),
      ['trace', 'end'],
    );

    const refused = async (headers: Record<string, string>, where = job) => {
      const reply = await fetch(streamUrl(where.projectId, where.jobId), { headers });
      assert.equal(reply.headers.get('content-type'), 'application/json');
      return { status: reply.status, body: (await reply.json()) as { message: string } };
    };
    assert.equal((await refused({})).status, 401);
    assert.equal((await refused({ 'PRIVATE-TOKEN': running.runnersToken })).status, 401, 'a runners token is no user token');
    const admin = { 'PRIVATE-TOKEN': world.coordinator.adminToken };
    assert.equal((await refused(admin, { ...job, jobId: 999999 })).status, 404);
    assert.equal((await refused(admin, { projectId: 999999, jobId: running.build.id })).status, 404);
    assert.equal((await refused(admin, { ...job, jobId: 'abc' })).status, 400);
    assert.equal((await refused({ ...admin, 'Last-Event-ID': 'abc' })).status, 400);
  });

  test('a stream left open does not keep the server from closing', async () => {
    const local = await startBuildWorld();
    try {
      const running = await local.builds.start();
      const stream = await openEventStream(`${local.coordinator.url}/api/v4/projects/${running.projectId}/jobs/${running.build.id}/trace/stream`, {
        'PRIVATE-TOKEN': local.coordinator.adminToken,
      });
      streams.push(stream);
      assert.equal(stream.status, 200);
    } finally {
      await local.stop();
    }
  });
});
