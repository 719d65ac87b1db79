/**
 * Issue 7's "claim" target: 10,000 pending builds, 50 runners (each its own registered token)
 * polling builds/register in a loop over keep-alive connections until the queue is empty;
 * builds handed out per second, every build handed out exactly once (checked against the answers
 * and the database), and the latency of every poll. Against a bare Koa app answering 204 to 50
 * keep-alive connections in the same run. Target: ≥ 0.25 × bare Koa. Beside it, in the same run,
 * the no-database ceiling (ceilings.ts): what answering the runners' polls with their payloads
 * alone costs, so the table shows how much of the target is left for the claim itself.
 */
import { queuePendingBuilds, registerRunners, runClaimStorm } from '../test/support/claimStorm.js';
import { quantile } from '../test/support/quantile.js';
import { realClaimExchange, startClaimCeiling } from './ceilings.js';
import { benchStores, loadTest, mean, startBareKoa, startBenchCoordinator } from './support.js';

const BUILDS = Number(process.env.CLAIM_BUILDS ?? 10_000);
const RUNNERS = Number(process.env.CLAIM_RUNNERS ?? 50);
const KOA_SECONDS = 5;
const BASELINE_ROUNDS = 2;
const TARGET_RATIO = 0.25;
/** CLAIM_STORES=postgres (or sqlite) measures one store only. */
const ONLY = process.env.CLAIM_STORES?.split(',');

export async function benchClaim(): Promise<string[]> {
  const { bare, ceiling } = await measureBaselines();
  const lines = [
    `${BUILDS} pending builds (pipelines of 100 jobs), ${RUNNERS} runners polling over keep-alive until empty; latency of every poll in ms`,
    '',
    '| store | builds/s | × bare Koa | × no-database ceiling | polls | p50 | p99 | max | queueing | exactly once |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  const verdicts = [
    `bare Koa 204, ${RUNNERS} connections: ${bare.toFixed(0)} requests/s`,
    `no-database ceiling (Koa reading the runner's body and answering a real build payload, no coordinator), ${RUNNERS} connections: ${ceiling.toFixed(0)} requests/s = ${(ceiling / bare).toFixed(3)} × bare Koa`,
    `the target, ${TARGET_RATIO} × bare Koa, is ${((TARGET_RATIO * bare) / ceiling).toFixed(2)} × the no-database ceiling`,
  ];
  for (const store of benchStores().filter((name) => !ONLY || ONLY.includes(name))) {
    const coordinator = await startBenchCoordinator(store);
    try {
      const queueStarted = performance.now();
      await queuePendingBuilds(coordinator, BUILDS);
      const queueMs = performance.now() - queueStarted;
      const tokens = await registerRunners(coordinator, RUNNERS);
      const result = await runClaimStorm(coordinator, tokens, BUILDS);
      const rate = (result.handedOut * 1000) / result.ms;
      const ratio = rate / bare;
      const spread = `${Math.min(...result.perRunner)}..${Math.max(...result.perRunner)} per runner`;
      lines.push(
        `| ${store} | ${rate.toFixed(0)} | ${ratio.toFixed(3)} | ${(rate / ceiling).toFixed(3)} | ${result.polls} | ${quantile(result.latencies, 0.5).toFixed(1)} | ${quantile(result.latencies, 0.99).toFixed(1)} | ${Math.max(...result.latencies).toFixed(1)} | ${(queueMs / 1000).toFixed(1)} s | ${result.problems.length === 0 ? `yes (${spread})` : 'NO'} |`,
      );
      verdicts.push(`${store}: ${ratio.toFixed(3)} × bare Koa; target ≥ ${TARGET_RATIO}: ${ratio >= TARGET_RATIO ? 'met' : 'MISSED'}`);
      for (const problem of result.problems) verdicts.push(`${store}: ${problem}`);
    } finally {
      await coordinator.stop();
    }
  }
  return [...lines, '', ...verdicts];
}

/**
 * Bare Koa, and the no-database ceiling (see ceilings.ts) loaded as the runners load the
 * coordinator, rounds alternating; requests per second, each the mean of its rounds. The load
 * runs in a worker thread, as the runners of the storm poll from one.
 */
async function measureBaselines(): Promise<{ bare: number; ceiling: number }> {
  const exchange = await realClaimExchange();
  const koa = await startBareKoa();
  const claimCeiling = await startClaimCeiling(exchange.payload);
  const bare: number[] = [];
  const ceiling: number[] = [];
  const poll = { method: 'POST' as const, body: exchange.body, headers: { 'Content-Type': 'application/json' } };
  try {
    for (let round = 0; round < BASELINE_ROUNDS; round++) {
      bare.push((await loadTest({ url: koa.url, connections: RUNNERS, seconds: KOA_SECONDS, workers: 1 })).requestsPerSecond);
      const figures = await loadTest({ url: `${claimCeiling.url}/ci/api/v1/builds/register.json`, ...poll, connections: RUNNERS, seconds: KOA_SECONDS, workers: 1 });
      if (Object.keys(figures.statuses).some((status) => status !== '201')) throw new Error(`the claim ceiling answered ${JSON.stringify(figures.statuses)}`);
      ceiling.push(figures.requestsPerSecond);
    }
  } finally {
    await koa.close();
    await claimCeiling.close();
  }
  return { bare: mean(bare), ceiling: mean(ceiling) };
}
