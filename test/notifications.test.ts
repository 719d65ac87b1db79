// The store's notification channel (src/store/notifications.ts): what one server process sends,
// every process listening on the channel receives (PostgreSQL LISTEN/NOTIFY); on SQLite, the
// process itself. Handlers that throw do not stop the others; a stopped handler hears nothing.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { onlyOnPostgres } from './support/database.js';

/** Resolves with the first `count` payloads a handler receives on `channel`. */
async function collect(coordinator: TestCoordinator, channel: string, count: number) {
  const payloads: string[] = [];
  let done!: () => void;
  const complete = new Promise<void>((resolve) => (done = resolve));
  const stop = await coordinator.notifications.listen(channel, (payload) => {
    payloads.push(payload);
    if (payloads.length === count) done();
  });
  return { payloads, complete, stop };
}

function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  return Promise.race([promise, new Promise<T>((_, reject) => setTimeout(() => reject(new Error(`${what}: nothing within ${ms} ms`)), ms).unref())]);
}

describe('notifications', () => {
  let first: TestCoordinator;
  before(async () => {
    first = await startTestCoordinator();
  });
  after(async () => {
    await first.stop();
  });

  test('a notification reaches every handler of its channel in this process, in order, and no other channel', async () => {
    const a = await collect(first, 'queue', 3);
    const b = await collect(first, 'queue', 3);
    const other = await collect(first, 'elsewhere', 1);
    const stopThrowing = await first.notifications.listen('queue', () => {
      throw new Error('a broken handler');
    });
    for (const payload of ['1', 'two', '{"runner":3}']) await first.notifications.notify('queue', payload);
    await within(Promise.all([a.complete, b.complete]), 5000, 'queue');
    assert.deepEqual(a.payloads, ['1', 'two', '{"runner":3}']);
    assert.deepEqual(b.payloads, a.payloads);
    assert.deepEqual(other.payloads, []);
    for (const stop of [a.stop, b.stop, other.stop, stopThrowing]) await stop();
  });

  test('a stopped handler hears nothing more', async () => {
    const kept = await collect(first, 'stopping', 2);
    const stopped = await collect(first, 'stopping', 1);
    await first.notifications.notify('stopping', 'before');
    await within(stopped.complete, 5000, 'before');
    await stopped.stop();
    await first.notifications.notify('stopping', 'after');
    await within(kept.complete, 5000, 'stopping');
    assert.deepEqual(kept.payloads, ['before', 'after']);
    assert.deepEqual(stopped.payloads, ['before']);
    await kept.stop();
  });

  test('a notification sent in a transaction arrives at its commit, and never after a rollback', { skip: onlyOnPostgres('SQLite delivers at once, in this process') }, async () => {
    const heard = await collect(first, 'transactional', 1);
    await first.db
      .transaction(async (trx) => {
        await first.notifications.notify('transactional', 'rolled back', trx);
        throw new Error('roll back');
      })
      .catch(() => {});
    await first.db.transaction(async (trx) => {
      await first.notifications.notify('transactional', 'committed', trx);
      await new Promise((resolve) => setTimeout(resolve, 100));
      assert.deepEqual(heard.payloads, [], 'nothing before the commit');
    });
    await within(heard.complete, 5000, 'transactional');
    assert.deepEqual(heard.payloads, ['committed']);
    await heard.stop();
  });

  test('what one server process sends, another one on the same database receives', { skip: onlyOnPostgres('SQLite has no channel between processes') }, async () => {
    // The same database, hence the same DATA_DIR (its server secret) too.
    const second = await startTestCoordinator({ DATABASE_URL: first.config.databaseUrl, DATA_DIR: first.config.dataDir });
    try {
      const there = await collect(second, 'across', 2);
      const here = await collect(first, 'across', 2);
      await first.notifications.notify('across', 'from the first');
      await second.notifications.notify('across', 'from the second');
      await within(Promise.all([there.complete, here.complete]), 5000, 'across');
      assert.deepEqual(there.payloads, ['from the first', 'from the second']);
      assert.deepEqual(here.payloads, ['from the first', 'from the second']);
      await there.stop();
      await here.stop();
    } finally {
      await second.stop();
    }
  });
});
