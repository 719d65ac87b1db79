// GitLab's health checks, black-box: /-/health, /-/liveness and /-/readiness, which fails (503, with
// the reason) when the database is unreachable, a migration is missing or DATA_DIR takes no writes.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';

interface Readiness {
  status: string;
  db_check: { status: string; message?: string }[];
  migrations_check: { status: string; message?: string }[];
  data_dir_check: { status: string; message?: string }[];
}

describe('health checks', () => {
  let coordinator: TestCoordinator | undefined;
  afterEach(async () => {
    await coordinator?.stop();
    coordinator = undefined;
  });

  const get = (path: string) => fetch(`${coordinator!.url}${path}`);
  const readiness = async () => {
    const reply = await get('/-/readiness');
    assert.equal(reply.headers.get('content-type'), 'application/json');
    return { status: reply.status, body: (await reply.json()) as Readiness };
  };

  test('health and liveness answer without a token, in GitLab\'s shapes', async () => {
    coordinator = await startTestCoordinator();
    const health = await get('/-/health');
    assert.equal(health.status, 200);
    assert.equal(await health.text(), 'GitLab OK');
    const liveness = await get('/-/liveness');
    assert.equal(liveness.status, 200);
    assert.equal(liveness.headers.get('content-type'), 'application/json');
    assert.deepEqual(await liveness.json(), { status: 'ok' });
    assert.deepEqual(await readiness(), {
      status: 200,
      body: { status: 'ok', db_check: [{ status: 'ok' }], migrations_check: [{ status: 'ok' }], data_dir_check: [{ status: 'ok' }] },
    });
    assert.equal((await get('/-/readiness?all=1')).status, 200, "GitLab's ?all=1 is accepted");
  });

  test('readiness fails while DATA_DIR cannot be written, and recovers', async () => {
    coordinator = await startTestCoordinator();
    // Root ignores file modes, so the directory is taken away rather than made read-only.
    const away = `${coordinator.dataDir}.away`;
    fs.renameSync(coordinator.dataDir, away);
    try {
      const failed = await readiness();
      assert.equal(failed.status, 503);
      assert.equal(failed.body.status, 'failed');
      assert.equal(failed.body.data_dir_check[0]?.status, 'failed');
      assert.match(failed.body.data_dir_check[0]?.message ?? '', /ENOENT/);
      assert.equal(failed.body.db_check[0]?.status, 'ok');
      assert.equal((await get('/-/health')).status, 200, 'health does not look at the disk');
    } finally {
      fs.renameSync(away, coordinator.dataDir);
    }
    assert.equal((await readiness()).status, 200);
  });

  test('readiness fails when a migration this server knows is not applied', async () => {
    coordinator = await startTestCoordinator();
    const newest = await coordinator.db('knex_migrations').orderBy('id', 'desc').first();
    await coordinator.db('knex_migrations').where({ id: newest.id }).delete();
    const failed = await readiness();
    assert.equal(failed.status, 503);
    assert.deepEqual(failed.body.migrations_check, [{ status: 'failed', message: `migrations not applied: ${newest.name}` }]);
    assert.equal(failed.body.db_check[0]?.status, 'ok');
  });

  test('readiness fails when the database does not answer; health still answers', async () => {
    coordinator = await startTestCoordinator();
    const { db } = coordinator;
    // The connection pool closed under the server: every query fails, as with a lost database.
    await db.destroy();
    const failed = await readiness();
    assert.equal(failed.status, 503);
    assert.equal(failed.body.db_check[0]?.status, 'failed');
    assert.ok(failed.body.db_check[0]?.message);
    assert.equal((await get('/-/health')).status, 200);
    assert.equal((await get('/-/liveness')).status, 200);
    // close() destroys the database again; knex allows that.
  });
});
