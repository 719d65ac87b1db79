// Issue 9: an artifacts archive is content a build (someone else's code) made. Every download
// says so to browsers: X-Content-Type-Options: nosniff and Content-Security-Policy: sandbox (allow-downloads, so that
// Chromium still saves it: test/webView.test.ts downloads one).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startBuildWorld, type BuildWorld } from './support/runningBuilds.js';

const ARTIFACTS_CONFIG = 'rspec:\n  script: rspec\n  artifacts:\n    paths: [index.html]\n';

describe('artifacts downloads carry nosniff and a sandbox CSP', () => {
  let world: BuildWorld;
  before(async () => {
    world = await startBuildWorld();
  });
  after(() => world.stop());

  test('on the runner APIs (v1, v4) and the user API', async () => {
    const { build, runner, projectId } = await world.builds.start(ARTIFACTS_CONFIG);
    const html = Buffer.from('<html><script>alert(document.cookie)</script></html>');
    const uploaded = await runner.uploadArtifacts(build.id, build.token, { files: { 'index.html': html } }, { name: 'page.html' });
    assert.equal(uploaded.status, 201, uploaded.body.toString());
    const v1 = await runner.downloadArtifacts(build.id, build.token);
    const user = await world.api.request('GET', `/api/v4/projects/${projectId}/jobs/${build.id}/artifacts`);
    // The dependency downloader of a v4 runner, with the job token.
    const v4 = await fetch(`${world.coordinator.url}/api/v4/jobs/${build.id}/artifacts`, { headers: { 'JOB-TOKEN': build.token } });
    for (const [api, status, header] of [
      ['v1', v1.status, (name: string) => v1.headers[name.toLowerCase()]],
      ['v4', v4.status, (name: string) => v4.headers.get(name) ?? undefined],
      ['user API', user.status, (name: string) => user.headers.get(name) ?? undefined],
    ] as const) {
      assert.equal(status, 200, api);
      assert.equal(header('X-Content-Type-Options'), 'nosniff', api);
      assert.equal(header('Content-Security-Policy'), 'sandbox allow-downloads', api);
      assert.equal(header('Content-Type'), 'application/octet-stream', api);
      assert.match(String(header('Content-Disposition')), /^attachment; /, api);
    }
  });
});
