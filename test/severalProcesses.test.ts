// Several server processes on one database and one DATA_DIR (issue 7), on whichever store the run
// uses: start-up migrations when processes start together, the trace range check across
// processes, and housekeeping once per interval rather than once per process. Two coordinators in
// one test process have a connection (pool) each, so the database decides between them exactly
// as between two processes; the start-up test also starts real server processes.
import { afterEach, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { openDatabase, type Db } from '../src/store/db.js';
import { TokenVault } from '../src/store/tokenVault.js';
import { loadOrCreateSecretKey } from '../src/domain/secretKey.js';
import { migrationSource } from '../src/store/migrations.js';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { startServerProcesses } from './support/processes.js';
import { storedTrace } from './support/runnerApi.js';
import { BuildStarter, ManualClock, type RunningBuild } from './support/runningBuilds.js';
import { UserApi } from './support/userApi.js';

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

function tempDir(): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-processes-'));
  cleanups.push(() => fs.rmSync(dir, { recursive: true, force: true }));
  return dir;
}

async function freshDatabase(dataDir: string): Promise<TestDatabase> {
  const database = await createTestDatabase(dataDir);
  cleanups.push(() => database.drop());
  return database;
}

/** The migrations knex recorded, by name, with how often each was recorded. */
async function recordedMigrations(db: Db): Promise<Record<string, number>> {
  const rows: { name: string }[] = await db('knex_migrations').select('name');
  const counts: Record<string, number> = {};
  for (const { name } of rows) counts[name] = (counts[name] ?? 0) + 1;
  return counts;
}

async function everyMigrationOnce(): Promise<Record<string, number>> {
  const names = await migrationSource.getMigrations([]);
  return Object.fromEntries(names.map((name) => [name, 1]));
}

// Without the start-up lock these hang rather than fail (processes waiting on each other's
// migration lock), so they have a time limit.
const START_UP_LIMIT = { timeout: 120_000 };

describe('start-up migrations with several processes starting together', () => {
  test('four handles opened at once on an empty database: each migration runs once and all four work', START_UP_LIMIT, async () => {
    for (let round = 0; round < 3; round++) {
      const dataDir = tempDir();
      const database = await freshDatabase(dataDir);
      // One server secret, as every process sharing a database must have.
      const vault = new TokenVault(randomBytes(32));
      const handles = await Promise.all(Array.from({ length: 4 }, () => openDatabase(database.url, vault)));
      try {
        for (const db of handles) assert.deepEqual(await recordedMigrations(db), await everyMigrationOnce(), `round ${round}`);
        const [lock] = await handles[0]!('knex_migrations_lock').select('*');
        assert.equal(Number(lock.is_locked), 0, 'the migration lock is free again');
        assert.equal((await handles[0]!('knex_migrations_lock').count({ rows: '*' }))[0]!.rows, 1, 'one lock row');
        for (const db of handles) assert.ok(Array.isArray(await db('projects').select('id')));
      } finally {
        for (const db of handles) await db.destroy();
      }
    }
  });

  test('two server processes started at the same moment on one empty database both come up', START_UP_LIMIT, async () => {
    const dataDir = tempDir();
    const database = await freshDatabase(dataDir);
    const processes = await startServerProcesses(2, {
      DATA_DIR: dataDir,
      DATABASE_URL: database.url,
      CI_REGISTRATION_TOKEN: 'registration-token-of-both',
      CI_ADMIN_TOKEN: 'admin-token-of-both',
    });
    cleanups.push(() => processes.stop());
    const outputs = () => processes.servers.map((server, i) => `--- server ${i}:\n${server.output()}`).join('\n');
    const [first, second] = processes.urls as [string, string];
    for (const url of processes.urls) {
      const reply = await fetch(`${url}/-/readiness`);
      assert.equal(reply.status, 200, `${url}: ${await reply.text()}\n${outputs()}`);
    }
    // Both serve the same data: a project made through one is there through the other.
    const project = await new UserApi(first, 'admin-token-of-both').createProject({ name: 'seen by both' });
    const other = await fetch(`${second}/api/v4/projects/${project.id}`, { headers: { 'PRIVATE-TOKEN': 'admin-token-of-both' } });
    assert.equal(other.status, 200, outputs());
    assert.doesNotMatch(outputs(), /error/i);
    const db = await openDatabase(database.url, new TokenVault(loadOrCreateSecretKey(path.join(dataDir, 'secret.key'))));
    try {
      assert.deepEqual(await recordedMigrations(db), await everyMigrationOnce());
    } finally {
      await db.destroy();
    }
  });
});

describe('two server processes on one database and DATA_DIR', () => {
  async function twoCoordinators(env: Record<string, string> = {}, clock?: ManualClock): Promise<[TestCoordinator, TestCoordinator]> {
    const first = await startTestCoordinator(env, clock);
    const second = await startTestCoordinator({ ...env, DATA_DIR: first.config.dataDir, DATABASE_URL: first.config.databaseUrl }, clock);
    // The second one stops first: it shares the first one's database.
    cleanups.push(() => first.stop(), () => second.stop());
    return [first, second];
  }

  test('of two PATCHes at one offset, one to each process, exactly one gets 202 and the other 416', async () => {
    const [first, second] = await twoCoordinators();
    const builds = new BuildStarter(first.url, new UserApi(first.url, first.adminToken));
    cleanups.push(() => builds.close());
    const running = await builds.start();
    const ROUNDS = 20;
    let stored = '';
    for (let round = 0; round < ROUNDS; round++) {
      const offset = stored.length;
      const text = (name: string) => `${name}${round}\n`;
      // Same length from both, so the next offset does not depend on who won.
      const [a, b] = await Promise.all([patchTrace(first, running, offset, text('a')), patchTrace(second, running, offset, text('b'))]);
      assert.deepEqual([a.status, b.status].sort(), [202, 416], `round ${round}`);
      stored += a.status === 202 ? text('a') : text('b');
      const loser = a.status === 416 ? a : b;
      assert.equal(loser.range, `0-${stored.length}`, `round ${round}: the loser is told the new length`);
    }
    assert.equal(await storedTrace(first.db, running.build.id), stored);
  });

  test('housekeeping runs once per interval across the processes, not once per process', async () => {
    const clock = new ManualClock();
    const [first, second] = await twoCoordinators({ HOUSEKEEPING_INTERVAL_SECONDS: '1' }, clock);
    const passes = () => first.housekeeping.passesRun + second.housekeeping.passesRun;
    // Each process's timer fires about every second; while the clock stands in one interval,
    // only one pass may run in all, however often the timers fire (each fires twice more here).
    await waitFor(() => passes() >= 1, 10_000, 'the first pass');
    await sleep(2500);
    assert.equal(passes(), 1, 'one pass in the first interval');
    clock.advance(1000);
    await waitFor(() => passes() >= 2, 10_000, 'the second pass');
    await sleep(2500);
    assert.equal(passes(), 2, 'one more in the next interval');
  });

  test('one process alone runs every interval', async () => {
    const clock = new ManualClock();
    const coordinator = await startTestCoordinator({ HOUSEKEEPING_INTERVAL_SECONDS: '1' }, clock);
    cleanups.push(() => coordinator.stop());
    for (let interval = 1; interval <= 3; interval++) {
      await waitFor(() => coordinator.housekeeping.passesRun >= interval, 5000, `pass ${interval}`);
      clock.advance(1000);
    }
    assert.equal(coordinator.housekeeping.passesRun, 3);
  });
});

function patchTrace(coordinator: TestCoordinator, { build }: RunningBuild, offset: number, text: string): Promise<{ status: number; range: string | undefined }> {
  const body = Buffer.from(text);
  return new Promise((resolve, reject) => {
    const request = http.request(
      new URL(`/ci/api/v1/builds/${build.id}/trace.txt`, coordinator.url),
      {
        method: 'PATCH',
        agent: false,
        headers: { 'Content-Type': 'text/plain', 'BUILD-TOKEN': build.token, 'Content-Range': `${offset}-${offset + body.length}`, 'Content-Length': body.length },
      },
      (response) => {
        response.resume();
        response.on('end', () => resolve({ status: response.statusCode ?? 0, range: response.headers.range }));
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

async function waitFor(condition: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(50);
  }
}
