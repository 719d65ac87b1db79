// Issue 9: what test/fuzz/ found, pinned down one request each so that a regression names itself.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import { rawExchange } from './support/rawHttp.js';

describe('requests the fuzz test found answered wrongly', () => {
  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld();
  });
  after(() => world.stop());

  test('a path with malformed percent-encoding gets 400, not 500', async () => {
    for (const path of ['/api/v4/projects/%ff', '/ci/api/v1/builds/%ff/artifacts.json', '/api/v4/projects/1/variables/%c0']) {
      const reply = await fetch(`${world.coordinator.url}${path}`, { headers: { 'PRIVATE-TOKEN': world.coordinator.adminToken } });
      assert.equal(reply.status, 400, path);
      assert.deepEqual(await reply.json(), { message: '400 Bad request - the path is not valid percent-encoded UTF-8' });
    }
  });

  test('parameters nested 5,000 levels deep get 400, not 500', async () => {
    const deep = `{"token":"x","nested":${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}}`;
    const answer = await rawExchange(world.coordinator.url, {
      head: `GET /ci/api/v1/builds/1/artifacts HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: ${deep.length}`,
      body: [deep],
    });
    assert.equal(answer.status, 400);
    assert.deepEqual(answer.json, { message: '400 Bad request - the parameters nest more than 100 levels deep' });
  });

  test('garbage pipelined behind a complete request does not answer in its place', async () => {
    const { build } = await world.builds.start();
    // A chunked PATCH, then bytes that are no request at all.
    const answer = await rawExchange(world.coordinator.url, {
      head: `PATCH /ci/api/v1/builds/${build.id}/trace.txt HTTP/1.1\r\nHost: x\r\nBuild-Token: ${build.token}\r\nContent-Range: 0-5\r\nTransfer-Encoding: chunked`,
      body: ['5\r\nhello\r\n0\r\n\r\n0\r\n\r\n'],
    });
    assert.equal(answer.status, 202, answer.body.toString());
    assert.equal(answer.headers['range'], '0-5');
    const trace = await world.api.request('GET', `/api/v4/projects/${build.project_id}/jobs/${build.id}/trace`);
    assert.equal(trace.text, 'hello');
  });

  test('a request whose Transfer-Encoding does not end in chunked gets 400 and its handler never acts', async () => {
    const { build } = await world.builds.start();
    const answer = await rawExchange(world.coordinator.url, {
      head: `POST /api/v4/projects/${build.project_id}/jobs/${build.id}/cancel HTTP/1.1\r\nHost: x\r\nConnection: close\r\nPRIVATE-TOKEN: ${world.coordinator.adminToken}\r\nTransfer-Encoding: gzip`,
      body: [],
    });
    assert.equal(answer.status, 400, answer.body.toString());
    await new Promise((resolve) => setTimeout(resolve, 200));
    const job = await world.api.request<{ status: string }>('GET', `/api/v4/projects/${build.project_id}/jobs/${build.id}`);
    assert.equal(job.body.status, 'running');
  });
});
