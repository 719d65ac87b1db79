/**
 * Issue 7's claim scenario, shared by bench/claim.ts and test/claimFairness.test.ts: many
 * pending builds, many runners (each registered with its own token) polling builds/register
 * in a loop over their own keep-alive connection, as real runners do, until the queue is empty.
 * Every poll's latency is recorded, and every build handed out is checked against the others
 * (exactly once) and against the database at the end (none lost, each on the runner that got it).
 */
import http from 'node:http';
import { Worker } from 'node:worker_threads';
import type { TestCoordinator } from './coordinator.js';
import { UserApi } from './userApi.js';

const RUNNER_USER_AGENT = 'gitlab-ci-multi-runner 1.11.5 (bench; go1.8; linux/amd64)';

/** Queues `count` pending builds: pipelines of `perPipeline` jobs (one stage), `parallel` created at a time. */
export async function queuePendingBuilds(coordinator: TestCoordinator, count: number, perPipeline = 100, parallel = 4): Promise<void> {
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  const pipelines = Math.ceil(count / perPipeline);
  let next = 0;
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      for (let p = next++; p < pipelines; p = next++) {
        const jobs = Math.min(perPipeline, count - p * perPipeline);
        const config = Array.from({ length: jobs }, (_, i) => `job${i}:\n  script: echo ${p}-${i}\n`).join('');
        const project = await api.createProject({ name: `claim-${p}` });
        await api.createPipeline(project.id, { ci_config: config });
      }
    }),
  );
}

export interface ClaimStormResult {
  /** First poll sent to last build received. */
  ms: number;
  handedOut: number;
  polls: number;
  /** Every poll's time to its answer (201 or 204), ms. */
  latencies: number[];
  /** Builds each runner got: the spread shows whether anyone starved. */
  perRunner: number[];
  /** Whatever broke exactly-once or the protocol; empty when all is well. */
  problems: string[];
}

/** Registers `runners` runners, each with its own token. */
export async function registerRunners(coordinator: TestCoordinator, runners: number): Promise<string[]> {
  return Promise.all(
    Array.from({ length: runners }, async (_, i) => {
      const reply = await post(new http.Agent({ keepAlive: false }), coordinator.url, '/ci/api/v1/runners/register.json', {
        token: coordinator.registrationToken,
        description: `claim-runner-${i}`,
      });
      if (reply.status !== 201) throw new Error(`runner registration: ${reply.status} ${reply.text}`);
      return String((JSON.parse(reply.text) as { token: string }).token);
    }),
  );
}

/**
 * Every runner polls until it is told there is nothing (204), then the database must show every
 * pending build as running on the runner that received it. The runners poll from a worker
 * thread of their own (claimStormWorker.mjs), as real runners are other processes: their HTTP
 * work never shares the event loop of the coordinator they measure.
 */
export async function runClaimStorm(coordinator: TestCoordinator, tokens: string[], expectedBuilds: number): Promise<ClaimStormResult> {
  const polled = await pollFromWorker({ url: coordinator.url, tokens });
  const owner = new Map(polled.owners);
  const problems = [...polled.problems];
  if (owner.size !== expectedBuilds) problems.push(`${owner.size} builds handed out, ${expectedBuilds} queued`);
  problems.push(...(await checkDatabase(coordinator, tokens, owner)));
  return { ms: polled.ms, handedOut: owner.size, polls: polled.latencies.length, latencies: polled.latencies, perRunner: polled.perRunner, problems };
}

/** What the runners' polling saw (see stormPolls). */
export interface StormPolls {
  /** First poll sent to last build received. */
  ms: number;
  latencies: number[];
  perRunner: number[];
  /** Each build handed out and the runner (index into the tokens) that got it. */
  owners: [number, number][];
  problems: string[];
}

function pollFromWorker(workerData: { url: string; tokens: string[] }): Promise<StormPolls> {
  return new Promise((resolve, reject) => {
    const worker = new Worker(new URL('./claimStormWorker.mjs', import.meta.url), { workerData });
    worker.once('message', (result: StormPolls) => resolve(result));
    worker.once('error', reject);
    worker.once('exit', (code) => reject(new Error(`the claim storm's worker exited (${code}) without a result`)));
  });
}

/** The runners' side of the storm: each polls over its own keep-alive connection until a 204. */
export async function stormPolls(url: string, tokens: string[]): Promise<StormPolls> {
  const latencies: number[] = [];
  const problems: string[] = [];
  const owner = new Map<number, number>();
  const perRunner = tokens.map(() => 0);
  let lastBuildAt = 0;
  const started = performance.now();
  await Promise.all(
    tokens.map(async (token, runner) => {
      // One connection per runner, kept alive between its polls.
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (;;) {
          const sent = performance.now();
          const reply = await post(agent, url, '/ci/api/v1/builds/register.json', { token });
          const answered = performance.now();
          latencies.push(answered - sent);
          if (reply.status === 204) return;
          if (reply.status !== 201) {
            problems.push(`runner ${runner}: ${reply.status} ${reply.text.slice(0, 200)}`);
            return;
          }
          const id = Number((JSON.parse(reply.text) as { id: number }).id);
          const earlier = owner.get(id);
          if (earlier !== undefined) problems.push(`build ${id} handed to runner ${earlier} and runner ${runner}`);
          owner.set(id, runner);
          perRunner[runner]! += 1;
          lastBuildAt = answered;
        }
      } finally {
        agent.destroy();
      }
    }),
  );
  return { ms: lastBuildAt - started, latencies, perRunner, owners: [...owner], problems };
}

/** The database agrees: nothing pending is left, and every build runs on the runner that was told so. */
async function checkDatabase(coordinator: TestCoordinator, tokens: string[], owner: Map<number, number>): Promise<string[]> {
  const problems: string[] = [];
  const db = coordinator.db;
  const runnerIds = new Map<number, number>();
  const runners: { id: number; description: string }[] = await db('runners').select('id', 'description');
  for (const row of runners) {
    const index = Number(/^claim-runner-(\d+)$/.exec(row.description)?.[1] ?? -1);
    if (index >= 0 && index < tokens.length) runnerIds.set(index, Number(row.id));
  }
  const builds: { id: number; status: string; runner_id: number | null }[] = await db('builds').select('id', 'status', 'runner_id');
  for (const build of builds) {
    const runner = owner.get(Number(build.id));
    if (runner === undefined) problems.push(`build ${build.id} (${build.status}) never handed out`);
    else if (build.status !== 'running' || Number(build.runner_id) !== runnerIds.get(runner)) {
      problems.push(`build ${build.id} is ${build.status} on runner id ${build.runner_id}, but was handed to runner ${runner} (id ${runnerIds.get(runner)})`);
    }
  }
  if (builds.length !== owner.size) problems.push(`${builds.length} builds stored, ${owner.size} handed out`);
  return problems.slice(0, 20);
}

function post(agent: http.Agent, url: string, path: string, body: unknown): Promise<{ status: number; text: string }> {
  const payload = Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const request = http.request(
      new URL(path, url),
      {
        method: 'POST',
        agent,
        headers: { 'Content-Type': 'application/json', 'Content-Length': String(payload.length), 'User-Agent': RUNNER_USER_AGENT },
      },
      (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', reject);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') }));
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}
