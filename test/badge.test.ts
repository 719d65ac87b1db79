// GET /api/v4/projects/:id/pipelines/badge.svg: the status of a ref's newest pipeline, drawn as
// GitLab draws it, public and never cached.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBuildWorld, type BuildWorld } from './support/runningBuilds.js';

describe('pipeline status badge', () => {
  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld();
  });
  after(() => world.stop());

  /** The badge as a README's <img> fetches it: no token. */
  const badge = async (projectId: number | string, ref?: string) => {
    const query = ref === undefined ? '' : `?ref=${encodeURIComponent(ref)}`;
    const reply = await fetch(`${world.coordinator.url}/api/v4/projects/${projectId}/pipelines/badge.svg${query}`);
    const svg = await reply.text();
    const texts = [...svg.matchAll(/<text [^>]*>([^<]*)<\/text>/g)].map((match) => match[1]);
    const fills = [...svg.matchAll(/<path fill="(#[0-9a-f]+)"/g)].map((match) => match[1]);
    return { reply, svg, label: texts[0], value: texts[2], valueColour: fills[1] };
  };

  test('a project without pipelines is unknown; the badge is SVG, public and never cached', async () => {
    const project = await world.api.createProject({ name: 'no-pipelines' });
    const { reply, svg, label, value, valueColour } = await badge(project.id);
    assert.equal(reply.status, 200);
    assert.equal(reply.headers.get('content-type'), 'image/svg+xml');
    assert.match(reply.headers.get('cache-control') ?? '', /no-store/);
    assert.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg" width="116" height="20">/);
    assert.deepEqual([label, value, valueColour], ['pipeline', 'unknown', '#9f9f9f']);
  });

  test('shows the newest pipeline of the ref: passed, failed, running, in GitLab\'s colours', async () => {
    const { project, runner } = await world.builds.prepare();
    const first = await runner.requestBuild();
    assert.ok(first);
    assert.deepEqual((await badge(project.id, 'master')).value, 'running');
    assert.equal((await badge(project.id, 'master')).valueColour, '#dfb317');
    assert.equal((await runner.putBuild(first.id, { state: 'success' })).status, 200);
    assert.deepEqual([(await badge(project.id, 'master')).value, (await badge(project.id, 'master')).valueColour], ['passed', '#4c1']);

    await world.api.createPipeline(project.id, { ref: 'feature', ci_config: 'rspec:\n  script: rspec\n' });
    assert.equal((await badge(project.id, 'feature')).value, 'pending');
    assert.equal((await badge(project.id)).value, 'pending', 'without ref: the newest pipeline of any ref');
    const second = await runner.requestBuild();
    assert.ok(second);
    assert.equal((await runner.putBuild(second.id, { state: 'failed' })).status, 200);
    assert.deepEqual([(await badge(project.id, 'feature')).value, (await badge(project.id, 'feature')).valueColour], ['failed', '#e05d44']);
    assert.equal((await badge(project.id, 'master')).value, 'passed', 'master keeps its own status');
    assert.equal((await badge(project.id, 'no-such-branch')).value, 'unknown');

    const pipelines = await world.api.request<{ id: number }[]>('GET', `/api/v4/projects/${project.id}/pipelines?ref=feature`);
    await world.api.request('POST', `/api/v4/projects/${project.id}/pipelines/${pipelines.body[0]!.id}/retry`);
    await world.api.request('POST', `/api/v4/projects/${project.id}/pipelines/${pipelines.body[0]!.id}/cancel`);
    assert.deepEqual([(await badge(project.id, 'feature')).value, (await badge(project.id, 'feature')).valueColour], ['canceled', '#9f9f9f']);
  });

  test('an unknown or deleted project is 404 JSON, a bad id 400', async () => {
    const project = await world.api.createProject({ name: 'to-delete' });
    assert.equal((await world.api.request('DELETE', `/api/v4/projects/${project.id}`)).status, 202);
    for (const id of [999999, project.id]) {
      const { reply } = await badge(id);
      assert.equal(reply.status, 404);
      assert.equal(reply.headers.get('content-type'), 'application/json');
    }
    assert.equal((await badge('abc')).reply.status, 400);
  });
});
