/**
 * Pickup latency (issue 7): how long after a pipeline is created does a runner that is
 * already waiting have its build?
 *
 * One sample: a runner's `POST /ci/api/v1/builds/register.json` is sent and the server
 * holds it (long polling, CI_LONG_POLL_SECONDS=20: the bench waits until the server counts
 * it as waiting); then a one-job pipeline is created through the user API
 * (`POST /api/v4/projects/:id/pipeline`). The clock starts when the user API's 201 reply has
 * arrived at the client (the pipeline exists and its creator knows it) and stops when the
 * runner's 201 reply, body included, has arrived. A runner reply that arrives before the
 * creator's would count as 0 or less; `from request` is the same with the clock started when
 * the pipeline request is sent (an upper bound that includes the pipeline's creation).
 *
 * Rows: each store with client and server in this process (startBenchCoordinator); on
 * PostgreSQL also two real server processes on one database, the pipeline created through
 * process A and the runner waiting on process B (LISTEN/NOTIFY between them).
 * Baseline, measured in the same run: the same coordinator with CI_LONG_POLL_SECONDS=0 and a
 * runner polling every 3 s, as GitLab 8.x runners did; pipelines created at random moments.
 */
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createTestDatabase } from '../test/support/database.js';
import { startServerProcesses, type ServerProcesses } from '../test/support/processes.js';
import { parseMetrics } from '../test/support/prometheus.js';
import { quantile } from '../test/support/quantile.js';
import { UserApi } from '../test/support/userApi.js';
import { benchStores, postJson, startBenchCoordinator } from './support.js';

const PICKUPS = Number(process.env.PICKUPS ?? 300);
const WARM_UP = 10;
const POLLED_PICKUPS = Number(process.env.POLLED_PICKUPS ?? 10);
const POLL_INTERVAL_MS = 3000;
const RUNNER_UA = 'gitlab-ci-multi-runner 1.11.5 (bench; go1.8; linux/amd64)';
const ONE_JOB = 'build:\n  script: make\n';

/** The runner's side: one keep-alive connection, as a real runner keeps. */
const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });

interface Sample {
  fromReply: number;
  fromRequest: number;
}

/** Where the pipeline is created and where the runner waits (the same process, or two). */
interface Setup {
  label: string;
  api: UserApi;
  projectId: number;
  runnerUrl: string;
  runnerToken: string;
  /** Build requests the runner's process holds right now. */
  waiting(): Promise<number>;
  close(): Promise<void>;
}

export async function benchPickup(): Promise<string[]> {
  const lines = [`pickup: ${PICKUPS} pipelines per row (after ${WARM_UP} not counted); ms from the pipeline's 201 to the waiting runner's 201`];
  const rows: string[][] = [];
  for (const store of benchStores()) {
    rows.push(await measured(await inProcess(store, '20'), longPolled));
    if (store === 'postgres') rows.push(await measured(await twoProcesses(), longPolled));
    rows.push(await measured(await inProcess(store, '0'), polledEvery3s));
  }
  lines.push(...table(rows));
  lines.push('target: p50 <= 20 ms, p99 <= 100 ms; GitLab 8.x: up to one 3 s poll interval');
  return lines;
}

type Strategy = (setup: Setup) => Promise<{ label: string; samples: Sample[] }>;

async function measured(setup: Setup, strategy: Strategy): Promise<string[]> {
  try {
    const { label, samples } = await strategy(setup);
    return row(`${setup.label}, ${label}`, samples);
  } finally {
    await setup.close();
  }
}

const longPolled: Strategy = async (setup) => {
  const samples: Sample[] = [];
  for (let i = 0; i < WARM_UP + PICKUPS; i++) {
    const before = await setup.waiting();
    const held = requestBuild(setup.runnerUrl, setup.runnerToken);
    while ((await setup.waiting()) <= before) await pause(1);
    const sent = performance.now();
    await setup.api.createPipeline(setup.projectId, { ci_config: ONE_JOB });
    const created = performance.now();
    const reply = await held;
    if (reply.status !== 201) throw new Error(`sample ${i}: the waiting runner got ${reply.status}, not its build`);
    if (i >= WARM_UP) samples.push({ fromReply: reply.at - created, fromRequest: reply.at - sent });
  }
  return { label: 'long poll (CI_LONG_POLL_SECONDS=20)', samples };
};

/** The "before": no long polling; the runner asks every 3 s; pipelines appear at random moments. */
const polledEvery3s: Strategy = async (setup) => {
  const samples: Sample[] = [];
  let stop = false;
  let picked: ((at: number) => void) | undefined;
  const runner = (async () => {
    while (!stop) {
      const asked = performance.now();
      const reply = await requestBuild(setup.runnerUrl, setup.runnerToken);
      if (reply.status === 201) picked?.(reply.at);
      else if (reply.status !== 204) throw new Error(`poll: ${reply.status}`);
      await pause(Math.max(0, POLL_INTERVAL_MS - (performance.now() - asked)));
    }
  })();
  try {
    for (let i = 0; i < POLLED_PICKUPS; i++) {
      await pause(Math.random() * POLL_INTERVAL_MS);
      const took = new Promise<number>((resolve) => (picked = resolve));
      const sent = performance.now();
      await setup.api.createPipeline(setup.projectId, { ci_config: ONE_JOB });
      const created = performance.now();
      const at = await took;
      samples.push({ fromReply: at - created, fromRequest: at - sent });
    }
  } finally {
    stop = true;
    await runner;
  }
  return { label: `polling every 3 s (CI_LONG_POLL_SECONDS=0, ${POLLED_PICKUPS} pipelines)`, samples };
};

async function inProcess(store: 'sqlite' | 'postgres', longPollSeconds: string): Promise<Setup> {
  const coordinator = await startBenchCoordinator(store, { CI_LONG_POLL_SECONDS: longPollSeconds });
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  const project = await api.createProject({ name: 'pickup' });
  const runner = await postJson(coordinator.url, '/ci/api/v1/runners/register.json', { token: coordinator.registrationToken });
  return {
    label: store === 'sqlite' ? 'SQLite' : 'PostgreSQL',
    api,
    projectId: project.id,
    runnerUrl: coordinator.url,
    runnerToken: String(runner.body.token),
    waiting: async () => coordinator.longPollsWaiting(),
    close: () => coordinator.stop(),
  };
}

/** Two server processes on one fresh PostgreSQL database: pipelines through A, the runner on B. */
async function twoProcesses(): Promise<Setup> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-bench-pickup-'));
  const database = await createTestDatabase(dataDir);
  const admin = 'admin-token-of-the-pickup-bench';
  const registration = 'registration-token-of-the-pickup-bench';
  let servers: ServerProcesses | undefined;
  const close = async () => {
    await servers?.stop();
    await database.drop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    servers = await startServerProcesses(2, { DATA_DIR: dataDir, DATABASE_URL: database.url, CI_ADMIN_TOKEN: admin, CI_REGISTRATION_TOKEN: registration, CI_LONG_POLL_SECONDS: '20' });
    const [a, b] = servers.urls as [string, string];
    const api = new UserApi(a, admin);
    const project = await api.createProject({ name: 'pickup' });
    const runner = await postJson(b, '/ci/api/v1/runners/register.json', { token: registration });
    const metricsOfB = new UserApi(b, admin);
    return {
      label: 'PostgreSQL, two processes (pipeline via A, runner on B)',
      api,
      projectId: project.id,
      runnerUrl: b,
      runnerToken: String(runner.body.token),
      waiting: async () => parseMetrics((await metricsOfB.request<string>('GET', '/metrics')).text).value('coordinator_long_polls_waiting', { api: 'v1' }),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** A build request as a runner sends it; `at` is when its whole reply had arrived. */
function requestBuild(url: string, token: string): Promise<{ status: number; at: number }> {
  const payload = JSON.stringify({ token });
  return new Promise((resolve, reject) => {
    const request = http.request(
      new URL('/ci/api/v1/builds/register.json', url),
      { method: 'POST', agent, headers: { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(payload), 'User-Agent': RUNNER_UA } },
      (response) => {
        response.resume();
        response.on('error', reject);
        response.on('end', () => resolve({ status: response.statusCode ?? 0, at: performance.now() }));
      },
    );
    request.on('error', reject);
    request.end(payload);
  });
}

function pause(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function row(label: string, samples: Sample[]): string[] {
  const figures = (values: number[]) => {
    const sorted = [...values].sort((x, y) => x - y);
    return [quantile(sorted, 0.5), quantile(sorted, 0.99), sorted[sorted.length - 1]!, sorted[0]!].map((ms) => ms.toFixed(1));
  };
  const fromReply = figures(samples.map((s) => s.fromReply));
  const fromRequest = figures(samples.map((s) => s.fromRequest));
  return [label, String(samples.length), ...fromReply.slice(0, 3), fromReply[3]!, `${fromRequest[0]} / ${fromRequest[1]}`];
}

function table(rows: string[][]): string[] {
  return [
    '| setup | n | p50 | p99 | max | min | from request p50 / p99 |',
    '|---|---|---|---|---|---|---|',
    ...rows.map((cells) => `| ${cells.join(' | ')} |`),
  ];
}
