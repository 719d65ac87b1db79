// Text with a NUL character from a request (PostgreSQL's text cannot hold one; SQLite can): a
// clear 4xx or an ordinary answer on either store, never a 500. Found by the fuzz test on PostgreSQL.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { UserApi } from './support/userApi.js';

let coordinator: TestCoordinator;
before(async () => {
  coordinator = await startTestCoordinator();
});
after(() => coordinator.stop());

test('a NUL in a query parameter or a token is never a 500', async () => {
  const project = await new UserApi(coordinator.url, coordinator.adminToken).createProject({ name: 'nul' });
  const badge = await fetch(`${coordinator.url}/api/v4/projects/${project.id}/pipelines/badge.svg?ref=%00`);
  assert.ok(badge.status < 500, `badge: ${badge.status}`);
  const register = await fetch(`${coordinator.url}/ci/api/v1/builds/register.json`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: 'runner\u0000token' }),
  });
  assert.ok(register.status >= 400 && register.status < 500, `builds/register: ${register.status}`);
  assert.equal(typeof ((await register.json()) as { message?: unknown }).message, 'string');
});
