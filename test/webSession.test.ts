// The viewer token and the web view's session: an HttpOnly, SameSite cookie holding the admin or
// viewer token, and the CSRF token every change made on the strength of that cookie must carry.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { ConfigError, loadConfig } from '../src/config.js';
import { startBuildWorld, type BuildWorld } from './support/runningBuilds.js';
import { UserApi } from './support/userApi.js';

const VIEWER_TOKEN = 'viewer-token-for-web-sessions';

interface Session {
  role: 'admin' | 'viewer';
  csrf_token: string;
}

describe('viewer token and web session', () => {
  let world: BuildWorld;
  let viewer: UserApi;
  before(async () => {
    world = await startBuildWorld({ CI_VIEWER_TOKEN: VIEWER_TOKEN });
    viewer = new UserApi(world.coordinator.url, VIEWER_TOKEN);
  });
  after(() => world.stop());

  const url = (path: string) => `${world.coordinator.url}${path}`;
  /** POST /-/session with `token`: the cookie the server set (name=value) and the session. */
  const signIn = async (token: string) => {
    const reply = await fetch(url('/-/session'), { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
    return { reply, setCookie: reply.headers.get('set-cookie') ?? '', body: (await reply.json()) as Session & { message?: string } };
  };
  const cookieOf = (setCookie: string) => setCookie.split(';')[0]!;
  const withCookie = (cookie: string, method = 'GET', csrf?: string, body?: unknown): RequestInit => ({
    method,
    headers: {
      Cookie: cookie,
      ...(csrf === undefined ? {} : { 'X-CSRF-Token': csrf }),
      ...(body === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });

  test('signing in puts the token in an HttpOnly, SameSite=Strict cookie and answers the role and a CSRF token', async () => {
    const admin = await signIn(world.coordinator.adminToken);
    assert.equal(admin.reply.status, 201);
    assert.equal(admin.reply.headers.get('content-type'), 'application/json');
    assert.equal(admin.body.role, 'admin');
    assert.match(admin.body.csrf_token, /^[A-Za-z0-9_-]{43}$/);
    const attributes = admin.setCookie.toLowerCase().split(/;\s*/);
    assert.equal(cookieOf(admin.setCookie), `ci_session=${world.coordinator.adminToken}`);
    assert.ok(attributes.includes('httponly'), admin.setCookie);
    assert.ok(attributes.includes('samesite=strict'), admin.setCookie);
    assert.ok(attributes.includes('path=/'), admin.setCookie);
    assert.ok(!attributes.includes('secure'), 'plain HTTP on loopback: no Secure flag, or the browser would drop it');

    const session = await fetch(url('/-/session'), { headers: { Cookie: cookieOf(admin.setCookie) } });
    assert.equal(session.status, 200);
    assert.deepEqual(await session.json(), { role: 'admin', csrf_token: admin.body.csrf_token });

    const asViewer = await signIn(VIEWER_TOKEN);
    assert.equal(asViewer.body.role, 'viewer');
    assert.notEqual(asViewer.body.csrf_token, admin.body.csrf_token);
  });

  test('a wrong token, a form post and no cookie are refused; signing out clears the cookie', async () => {
    assert.equal((await signIn('not-a-token-of-ours')).reply.status, 401);
    // A form on another site could post this without a preflight: only JSON signs in.
    const form = await fetch(url('/-/session'), {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: `token=${world.coordinator.adminToken}`,
    });
    assert.equal(form.status, 400);
    assert.equal(form.headers.get('set-cookie'), null);
    assert.equal((await fetch(url('/-/session'))).status, 401);
    assert.equal((await fetch(url('/-/session'), { headers: { Cookie: 'ci_session=nope' } })).status, 401);

    const out = await fetch(url('/-/session'), { method: 'DELETE' });
    assert.equal(out.status, 204);
    assert.match(out.headers.get('set-cookie') ?? '', /^ci_session=;.*expires=Thu, 01 Jan 1970/i);
  });

  test('with the cookie, reads need nothing more and changes need the CSRF token of that session', async () => {
    const { setCookie, body } = await signIn(world.coordinator.adminToken);
    const cookie = cookieOf(setCookie);
    const read = await fetch(url('/api/v4/projects'), withCookie(cookie));
    assert.equal(read.status, 200);

    const newProject = { name: 'from-the-browser', repo_url: 'https://git.example.com/browser.git' };
    const noCsrf = await fetch(url('/api/v4/projects'), withCookie(cookie, 'POST', undefined, newProject));
    assert.equal(noCsrf.status, 403);
    assert.deepEqual(await noCsrf.json(), { message: '403 Forbidden - CSRF token missing or invalid' });
    const viewerCsrf = (await signIn(VIEWER_TOKEN)).body.csrf_token;
    assert.equal((await fetch(url('/api/v4/projects'), withCookie(cookie, 'POST', viewerCsrf, newProject))).status, 403, "another session's CSRF token");

    const created = await fetch(url('/api/v4/projects'), withCookie(cookie, 'POST', body.csrf_token, newProject));
    assert.equal(created.status, 201);
    // PRIVATE-TOKEN needs no CSRF token: another site's page cannot set that header.
    const project = await world.api.createProject({ name: 'by-header' });
    assert.ok(project.id > 0);
  });

  test('the viewer token reads everything but secrets and changes nothing, by header or by cookie', async () => {
    const running = await world.builds.start();
    const projectId = running.projectId;
    const jobId = running.build.id;
    assert.equal((await world.api.request('POST', `/api/v4/projects/${projectId}/variables`, { key: 'API_KEY', value: 'v4lue-of-a-secret' })).status, 201);
    assert.equal((await world.api.request('POST', `/api/v4/projects/${projectId}/triggers`, { description: 'nightly' })).status, 201);

    // Reads: yes, but never a token that could act (the project's runners token is blank).
    const project = await viewer.request<{ runners_token: string }>('GET', `/api/v4/projects/${projectId}`);
    assert.equal(project.status, 200);
    assert.equal(project.body.runners_token, '');
    const listed = await viewer.request<{ id: number; runners_token: string }[]>('GET', '/api/v4/projects?per_page=100');
    assert.ok(listed.body.some((item) => item.id === projectId));
    assert.ok(listed.body.every((item) => item.runners_token === ''));
    for (const path of [`/api/v4/projects/${projectId}/jobs/${jobId}`, `/api/v4/projects/${projectId}/jobs`, `/api/v4/projects/${projectId}/pipelines`, '/api/v4/runners/all']) {
      assert.equal((await viewer.request('GET', path)).status, 200, path);
    }
    assert.equal((await viewer.request('POST', '/api/v4/ci/lint', { content: 'build:\n  script: make\n' })).status, 200, 'lint changes nothing');

    // Secrets: no.
    for (const path of [`/api/v4/projects/${projectId}/variables`, `/api/v4/projects/${projectId}/variables/API_KEY`, `/api/v4/projects/${projectId}/triggers`]) {
      const reply = await viewer.request<{ message: string }>('GET', path);
      assert.equal(reply.status, 403, path);
      assert.equal(reply.body.message, '403 Forbidden - the viewer token may not see secrets');
    }

    // Changes: no, and nothing changed.
    const actions: [string, string, unknown?][] = [
      ['POST', `/api/v4/projects/${projectId}/jobs/${jobId}/cancel`],
      ['POST', `/api/v4/projects/${projectId}/pipeline`, { ref: 'master', sha: '97de212e80737a608d939f648d959671fb0a0142' }],
      ['POST', '/api/v4/projects', { name: 'nope', repo_url: 'https://git.example.com/nope.git' }],
      ['DELETE', `/api/v4/projects/${projectId}`],
      ['PUT', `/api/v4/projects/${projectId}/variables/API_KEY`, { value: 'changed' }],
    ];
    for (const [method, path, body] of actions) {
      const reply = await viewer.request<{ message: string }>(method, path, body);
      assert.equal(reply.status, 403, `${method} ${path}`);
      assert.equal(reply.body.message, '403 Forbidden - the viewer token is read-only');
    }
    const session = await signIn(VIEWER_TOKEN);
    const cancel = await fetch(url(`/api/v4/projects/${projectId}/jobs/${jobId}/cancel`), withCookie(cookieOf(session.setCookie), 'POST', session.body.csrf_token));
    assert.equal(cancel.status, 403, 'a viewer session with its CSRF token is still read-only');
    const job = await world.api.request<{ status: string }>('GET', `/api/v4/projects/${projectId}/jobs/${jobId}`);
    assert.equal(job.body.status, 'running');
  });

  test('CI_VIEWER_TOKEN must be long and must differ from the admin token', () => {
    assert.throws(() => loadConfig({ CI_VIEWER_TOKEN: 'short' }), ConfigError);
    assert.throws(() => loadConfig({ CI_VIEWER_TOKEN: 'the-same-token-twice', CI_ADMIN_TOKEN: 'the-same-token-twice' }), ConfigError);
    assert.equal(loadConfig({ CI_VIEWER_TOKEN: VIEWER_TOKEN }).viewerToken, VIEWER_TOKEN);
    assert.equal(loadConfig({}).viewerToken, undefined);
  });
});
