// Issue 7's acceptance: two real server processes on one PostgreSQL; a runner waits in a long poll
// on process B; a build created through process A (a pipeline through A's user API) wakes it
// within 100 ms, through LISTEN/NOTIFY. The bound is the issue's, so this test times it: from
// the moment A's 201 for the pipeline has arrived to the moment B's 201 with the build has.
// It holds with a wide margin on an idle 2-core machine (bench/pickup.ts measures the same path:
// p99 of about 80 ms even while other work ran), yet one sample can meet a garbage collection or a
// busy neighbour, so most samples must be within 100 ms and none may take anywhere near the
// 3 s a poll interval would (a missed wake would hold the request for its whole 60 s).
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase, onlyOnPostgres, type TestDatabase } from './support/database.js';
import { startServerProcesses, type ServerProcesses } from './support/processes.js';
import { parseMetrics } from './support/prometheus.js';
import { RunnerApi, type BuildDetails } from './support/runnerApi.js';
import { UserApi } from './support/userApi.js';

const ADMIN = 'admin-token-of-both-processes';
const REGISTRATION = 'registration-token-of-both-processes';
/** Not counted: the first requests of a fresh process compile its code paths. */
const WARM_UP = 3;
const SAMPLES = 20;
const BOUND_MS = 100;
const WITHIN_BOUND = 18;
const NEVER_BEYOND_MS = 1000;

let dataDir: string;
let database: TestDatabase | undefined;
let processes: ServerProcesses | undefined;

before(async () => {
  if (onlyOnPostgres('')) return;
  dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-long-poll-processes-'));
  database = await createTestDatabase(dataDir);
  processes = await startServerProcesses(2, {
    DATA_DIR: dataDir,
    DATABASE_URL: database.url,
    CI_ADMIN_TOKEN: ADMIN,
    CI_REGISTRATION_TOKEN: REGISTRATION,
    CI_LONG_POLL_SECONDS: '60',
  });
});

after(async () => {
  await processes?.stop();
  await database?.drop();
  if (dataDir) fs.rmSync(dataDir, { recursive: true, force: true });
});

test(`a build created through process A wakes a runner waiting on process B within ${BOUND_MS} ms`, { skip: onlyOnPostgres('two processes on one database are a PostgreSQL set-up'), timeout: 120_000 }, async (t) => {
  const [a, b] = processes!.urls as [string, string];
  const userApiOfA = new UserApi(a, ADMIN);
  const userApiOfB = new UserApi(b, ADMIN);
  const runnersOfB = new RunnerApi(b);
  const project = await userApiOfA.createProject({ name: 'created through A' });
  const runner = await runnersOfB.registerRunner({ token: REGISTRATION, description: 'waits on B' });
  const waitingOnB = async () => parseMetrics((await userApiOfB.request<string>('GET', '/metrics')).text).value('coordinator_long_polls_waiting', { api: 'v1' });

  const latencies: number[] = [];
  for (let i = 0; i < WARM_UP + SAMPLES; i++) {
    const request = runnersOfB.heldBuildRequest(runner.token);
    for (let polls = 0; (await waitingOnB()) !== 1; polls++) {
      assert.ok(polls < 2000, `sample ${i}: B never held the request`);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    const name = `build-${i}`;
    await userApiOfA.createPipeline(project.id, { ci_config: `${name}:\n  script: make\n` });
    const created = performance.now();
    const reply = await request.reply;
    const latency = performance.now() - created;
    assert.equal(reply.status, 201, `sample ${i}: ${reply.text}`);
    assert.equal((reply.json as BuildDetails).name, name, 'the build just created, not another');
    if (i >= WARM_UP) latencies.push(latency);
  }
  const shown = latencies.map((ms) => ms.toFixed(1)).join(', ');
  t.diagnostic(`ms from A's reply to B's: ${shown}`);
  const within = latencies.filter((ms) => ms <= BOUND_MS).length;
  assert.ok(within >= WITHIN_BOUND, `${within} of ${SAMPLES} within ${BOUND_MS} ms: ${shown}`);
  assert.ok(Math.max(...latencies) < NEVER_BEYOND_MS, `every pickup well below a poll interval: ${shown}`);
  assert.equal(await waitingOnB(), 0, 'nothing left waiting on B');
});
