// Issue 7, faults: 10,000 abandoned long polls leave memory flat and no listener behind. Build
// requests of v1 (builds/register) and v4 (jobs/request) are held by the server and their clients
// hang up (sockets destroyed), 1,000 at a time (each costs a descriptor on both sides). Afterwards
// nothing is left: no wait, no listener on the shared emitters, no request in flight, the heap
// after a forced collection where it was, and no build taken by any of them.
//
// The heap is this process's (client and server share it), measured after a full collection;
// V8's collector is reached with --expose-gc set at run time, so the test needs no node flag.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import v8 from 'node:v8';
import vm from 'node:vm';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { RUNNER_UA, RunnerApi } from './support/runnerApi.js';
import { RUNNER_V4_UA, RunnerV4Api } from './support/runnerV4Api.js';
import { UserApi } from './support/userApi.js';

const ABANDONED = Number(process.env.ABANDONED ?? 10_000);
const BATCH = 1_000;
/** Runners per API: the polls of a few runners reconnecting, as after a load balancer's restart. */
const RUNNERS = 5;
/** What the heap may differ by: 10,000 polls leaking even 1 KiB each would be 10 MiB (measured: within ±1.5 MiB). */
const HEAP_MARGIN = 8 * 1024 * 1024;

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc') as () => void;

let coordinator: TestCoordinator;
let answered = 0;
before(async () => {
  coordinator = await startTestCoordinator({ CI_LONG_POLL_SECONDS: '600' });
});
after(async () => {
  await coordinator?.stop();
});

interface Poller {
  path: string;
  userAgent: string;
  token: string;
}

/** A held build request on its own connection; resolves once its socket is open. */
function openPoll(poller: Poller): Promise<http.ClientRequest> {
  const payload = JSON.stringify({ token: poller.token });
  return new Promise((resolve) => {
    const request = http.request(new URL(poller.path, coordinator.url), {
      method: 'POST',
      agent: false,
      headers: { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(payload)), 'User-Agent': poller.userAgent },
    });
    // Destroying it is the point; its error ("socket hang up") is expected.
    request.on('error', () => {});
    request.on('response', (response) => {
      response.resume();
      answered += 1;
    });
    request.once('socket', () => resolve(request));
    request.end(payload);
  });
}

async function until(condition: () => boolean, what: string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`never happened: ${what} (${JSON.stringify(coordinator.leftovers())})`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Opens `count` polls, waits until the server holds them all, hangs up on all of them, waits until all is let go. */
async function abandon(pollers: Poller[], count: number): Promise<void> {
  for (let opened = 0; opened < count; opened += BATCH) {
    const size = Math.min(BATCH, count - opened);
    const requests = await Promise.all(Array.from({ length: size }, (_, i) => openPoll(pollers[(opened + i) % pollers.length]!)));
    await until(() => coordinator.longPollsWaiting() === size, `${size} polls held`);
    for (const request of requests) request.destroy();
    await until(() => coordinator.longPollsWaiting() === 0 && coordinator.leftovers().requestsInFlight === 0, 'every abandoned poll let go');
  }
}

/**
 * The heap's live size: the least seen over a few full collections a moment apart, since what
 * the last hang-ups still hold (sockets closing, their callbacks) goes within a few turns.
 */
async function heapAfterCollection(): Promise<number> {
  let least = Infinity;
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    gc();
    least = Math.min(least, process.memoryUsage().heapUsed);
  }
  return least;
}

test(`${ABANDONED} abandoned long polls (v1 and v4) leave memory flat, no listener behind, and take no build`, { timeout: 180_000 }, async (t) => {
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  const project = await api.createProject({ name: 'abandoned polls' });
  const v1 = new RunnerApi(coordinator.url);
  const v4 = new RunnerV4Api(coordinator.url);
  const pollers: Poller[] = [];
  for (let i = 0; i < RUNNERS; i++) {
    pollers.push({ path: '/ci/api/v1/builds/register.json', userAgent: RUNNER_UA, token: (await v1.registerRunner({ token: coordinator.registrationToken })).token });
    pollers.push({ path: '/api/v4/jobs/request', userAgent: RUNNER_V4_UA, token: (await v4.registerRunner({ token: coordinator.registrationToken })).token });
  }
  // One batch first: what stays for good (compiled code, the runners remembered, pools) is then there before the first measure.
  await abandon(pollers, BATCH);
  const before = { heap: await heapAfterCollection(), ...coordinator.leftovers() };

  await abandon(pollers, ABANDONED);
  await coordinator.flushRunnerContacts();
  const heap = await heapAfterCollection();
  const leftovers = coordinator.leftovers();

  assert.deepEqual(leftovers, {
    waiters: 0,
    runners: 2 * RUNNERS,
    queueListeners: before.queueListeners,
    notificationHandlers: before.notificationHandlers,
    requestsInFlight: 0,
  });
  assert.ok(leftovers.queueListeners <= 2 && leftovers.notificationHandlers <= 2, `a fixed few listeners: ${JSON.stringify(leftovers)}`);
  assert.equal(answered, 0, 'no abandoned poll was answered');
  const grown = heap - before.heap;
  t.diagnostic(`heap after collection: ${(before.heap / 1024 / 1024).toFixed(1)} MiB after the first batch, ${(heap / 1024 / 1024).toFixed(1)} MiB after ${ABANDONED} more`);
  assert.ok(grown < HEAP_MARGIN, `heap after collection grew by ${(grown / 1024 / 1024).toFixed(1)} MiB (from ${(before.heap / 1024 / 1024).toFixed(1)} MiB)`);

  // Nothing was taken: builds queued now are pending, and a live poll gets one.
  const pipeline = await api.createPipeline(project.id, { ci_config: 'one:\n  script: make\ntwo:\n  script: make\n' });
  assert.deepEqual((await api.listJobs(project.id, pipeline.id)).map((job) => job.status), ['pending', 'pending']);
  const taken = await v1.requestBuild(pollers[0]!.token);
  assert.equal(taken.status, 201, taken.text);
  assert.equal((await api.listJobs(project.id, pipeline.id)).filter((job) => job.status === 'pending').length, 1);
});
