// Issue 7's fairness acceptance: under 50 runners claiming 10,000 builds, no poll waits longer
// than 2 s for its answer and the 99th percentile is at most 500 ms, on each store; every build
// is handed out exactly once (by the answers, and by the database at the end). A runner that
// loses a claim race must not starve: in this process requests take their turn at the queue in
// arrival order (ClaimLine), so a poll waits for the claims ahead of it, never for luck.
//
// The issue states these bounds as the acceptance, so this test times polls (the one kind of
// timed assertion the developers' guide allows). They are the issue's own and generous for what
// is measured: on 2 idle cores a poll here waits about as long as the claims of the other 49
// runners take together (see bench/README.md, "claim", for the figures); the run takes well
// under a minute per store. The runners, as real ones, poll again at once after each build.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { startTestCoordinator, type TestCoordinator } from './support/coordinator.js';
import { queuePendingBuilds, registerRunners, runClaimStorm } from './support/claimStorm.js';
import { quantile } from './support/quantile.js';

const BUILDS = 10_000;
const RUNNERS = 50;
const MAX_WAIT_MS = 2_000;
const P99_MS = 500;

describe('claim fairness', () => {
  let coordinator: TestCoordinator;
  before(async () => {
    coordinator = await startTestCoordinator();
  });
  after(async () => {
    await coordinator.stop();
  });

  test(`${RUNNERS} runners claiming ${BUILDS} builds: every build once, no poll waits over ${MAX_WAIT_MS} ms, p99 ≤ ${P99_MS} ms`, async () => {
    await queuePendingBuilds(coordinator, BUILDS);
    const tokens = await registerRunners(coordinator, RUNNERS);
    const result = await runClaimStorm(coordinator, tokens, BUILDS);
    assert.deepEqual(result.problems, [], 'every build handed out exactly once, to the runner the database names');
    assert.equal(result.handedOut, BUILDS);
    const p99 = quantile(result.latencies, 0.99);
    const max = Math.max(...result.latencies);
    const figures = `p50 ${quantile(result.latencies, 0.5).toFixed(0)} ms, p99 ${p99.toFixed(0)} ms, max ${max.toFixed(0)} ms over ${result.polls} polls; ${Math.min(...result.perRunner)}..${Math.max(...result.perRunner)} builds per runner, ${((result.handedOut * 1000) / result.ms).toFixed(0)} builds/s`;
    console.log(`claim fairness: ${figures}`);
    assert.ok(max <= MAX_WAIT_MS, `no poll waits longer than ${MAX_WAIT_MS} ms (${figures})`);
    assert.ok(p99 <= P99_MS, `p99 ≤ ${P99_MS} ms (${figures})`);
  });
});
