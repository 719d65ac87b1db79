// "Every malformed request gets a 4xx with a JSON message, never a 500": every operation of
// openapi.yaml, with odd ids and every kind of broken body, through a real server.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { OpenAPIBackend } from 'openapi-backend';
import { specPath } from '../src/http/openapiRouter.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { UserApi } from './support/userApi.js';

const ODD_IDS = ['abc', '-1', '0', '1.5', '1e3', '99999999999999999999', '%00', '%2e%2e', ' 1'];

const BROKEN_BODIES: { label: string; contentType: string; body: string }[] = [
  { label: 'invalid JSON', contentType: 'application/json', body: '{"token": ' },
  { label: 'a JSON array', contentType: 'application/json', body: '[1, 2, 3]' },
  { label: 'JSON null', contentType: 'application/json', body: 'null' },
  { label: 'a JSON string', contentType: 'application/json', body: '"token"' },
  { label: 'wrong types', contentType: 'application/json', body: JSON.stringify({ token: 5, name: [], ref: {}, sha: 1, key: null, value: 7, content: false, runner_id: 'x', variables: 'x', tag_list: 3, active: 'yes' }) },
  { label: 'deep nesting', contentType: 'application/json', body: '{"a":'.repeat(2000) + '1' + '}'.repeat(2000) },
  { label: 'a form with nested garbage', contentType: 'application/x-www-form-urlencoded', body: 'token[a][b][c]=1&variables[]=x&ref[]=a' },
  { label: 'multipart without a boundary', contentType: 'multipart/form-data', body: 'garbage' },
  { label: 'an unknown content type', contentType: 'application/x-unknown', body: '\u0000\u0001\u0002' },
];

describe('bad input never gets a 500', () => {
  let coordinator: TestCoordinator;
  let operations: { method: string; path: string; operationId?: string }[];

  before(async () => {
    coordinator = await startTestCoordinator();
    const api = new UserApi(coordinator.url, coordinator.adminToken);
    // Something real to aim at, so ids that exist meet broken bodies too.
    const project = await api.createProject({ ci_config: 'build:\n  script: make\n' });
    await api.createPipeline(project.id, { ci_config: 'build:\n  script: make\n' });
    const spec = new OpenAPIBackend({ definition: specPath, quick: true });
    await spec.init();
    operations = spec.getOperations().map((op) => ({ method: op.method.toUpperCase(), path: op.path, operationId: op.operationId }));
  });
  after(() => coordinator.stop());

  async function send(method: string, path: string, contentType?: string, body?: string) {
    const response = await fetch(`${coordinator.url}${path}`, {
      method,
      headers: {
        'PRIVATE-TOKEN': coordinator.adminToken,
        'BUILD-TOKEN': 'not-a-token',
        'Content-Range': '0-1',
        ...(contentType ? { 'Content-Type': contentType } : {}),
      },
      body,
    });
    const text = await response.text();
    return { status: response.status, contentType: response.headers.get('content-type'), text };
  }

  function assertClientError(reply: { status: number; contentType: string | null; text: string }, what: string) {
    assert.ok(reply.status < 500, `${what}: ${reply.status} ${reply.text.slice(0, 200)}`);
    if (reply.status >= 400) {
      assert.equal(reply.contentType, 'application/json', `${what}: ${reply.contentType}`);
      assert.equal(typeof (JSON.parse(reply.text) as { message?: unknown }).message, 'string', `${what}: ${reply.text}`);
    }
  }

  test('odd ids in every path parameter', async () => {
    for (const op of operations) {
      for (const id of ODD_IDS) {
        const path = op.path.replace(/\{[^}]+\}/g, id);
        if (path === op.path) continue;
        assertClientError(await send(op.method, path), `${op.operationId} ${op.method} ${path}`);
      }
    }
  });

  test('broken bodies on every operation that takes one, with real ids', async () => {
    for (const op of operations.filter((o) => ['POST', 'PUT', 'PATCH', 'DELETE'].includes(o.method))) {
      const path = op.path.replace(/\{[^}]+\}/g, '1');
      for (const broken of BROKEN_BODIES) {
        assertClientError(await send(op.method, path, broken.contentType, broken.body), `${op.operationId} with ${broken.label}`);
      }
    }
  });

  test('unknown paths and methods', async () => {
    for (const [method, path] of [['GET', '/nope'], ['POST', '/ci/api/v1/builds/1'], ['GET', '/ci/api/v1/builds/register.json'], ['PATCH', '/api/v4/projects']]) {
      const reply = await send(method!, path!);
      assert.ok([404, 405].includes(reply.status), `${method} ${path}: ${reply.status}`);
      assertClientError(reply, `${method} ${path}`);
    }
  });
});
