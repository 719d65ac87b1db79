import http from 'node:http';
import type { AddressInfo } from 'node:net';
import autocannon from 'autocannon';
import Koa from 'koa';
import { startTestCoordinator, type TestCoordinator } from '../test/support/coordinator.js';
import { UserApi } from '../test/support/userApi.js';

export interface RunningBuild {
  coordinator: TestCoordinator;
  id: number;
  token: string;
  runnerToken: string;
}

/** A real coordinator with one project, one pipeline of `jobs` builds and one shared runner. */
export async function coordinatorWithPendingBuilds(jobs: number, env: Record<string, string> = {}) {
  const coordinator = await startTestCoordinator(env);
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  const project = await api.createProject({ name: 'bench' });
  const config = Array.from({ length: jobs }, (_, i) => `job${i}:\n  script: echo ${i}\n`).join('');
  await api.createPipeline(project.id, { ci_config: config });
  const runner = await postJson(coordinator.url, '/ci/api/v1/runners/register.json', { token: coordinator.registrationToken });
  return { coordinator, api, runnerToken: String(runner.body.token) };
}

export async function takeBuild(url: string, runnerToken: string): Promise<{ id: number; token: string }> {
  const reply = await postJson(url, '/ci/api/v1/builds/register.json', { token: runnerToken });
  if (reply.status !== 201) throw new Error(`no build: ${reply.status}`);
  return { id: Number(reply.body.id), token: String(reply.body.token) };
}

export async function postJson(url: string, path: string, body: unknown): Promise<{ status: number; body: Record<string, unknown> }> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'User-Agent': 'gitlab-ci-multi-runner 1.11.5 (bench; go1.8; linux/amd64)' },
    body: JSON.stringify(body),
  });
  const text = await response.text();
  return { status: response.status, body: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

/** The arithmetic mean of `values` (rounds of one case, say). */
export function mean(values: number[]): number {
  return values.reduce((sum, value) => sum + value, 0) / values.length;
}

export function formatRate(label: string, count: number, ms: number): string {
  return `${label}: ${count} in ${ms.toFixed(0)} ms = ${((count * 1000) / ms).toFixed(0)}/s`;
}

/** The stores a scenario compares: SQLite always, PostgreSQL when make bench started a cluster (TEST_DATABASE_URL). */
export function benchStores(): ('sqlite' | 'postgres')[] {
  return process.env.TEST_DATABASE_URL ? ['sqlite', 'postgres'] : ['sqlite'];
}

/** A real coordinator on the given store (see startTestCoordinator). */
export function startBenchCoordinator(store: 'sqlite' | 'postgres', env: Record<string, string> = {}): Promise<TestCoordinator> {
  return startTestCoordinator(env, undefined, { store });
}

/**
 * The baseline the HTTP targets are stated against: a bare Koa app answering every request
 * with 204, in this process as the coordinator is, so both share the machine alike.
 */
export async function startBareKoa(): Promise<{ url: string; close(): Promise<void> }> {
  const app = new Koa();
  app.use((ctx) => {
    ctx.status = 204;
  });
  return listenKoa(app);
}

/** `app` on a free loopback port, until `close` (which also ends its keep-alive connections). */
export async function listenKoa(app: Koa): Promise<{ url: string; close(): Promise<void> }> {
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface LoadFigures {
  requestsPerSecond: number;
  statuses: Record<string, number>;
  latencyP50: number;
  latencyP99: number;
  errors: number;
}

/**
 * autocannon against one URL: keep-alive connections, a fixed duration, the figures we report.
 * `workers` (autocannon's own option) runs the load in that many worker threads, so that the
 * generator does not share the event loop of a server in this process.
 */
export async function loadTest(options: { url: string; method?: 'GET' | 'POST'; body?: string; headers?: Record<string, string>; connections: number; seconds: number; workers?: number }): Promise<LoadFigures> {
  const result = await autocannon({
    ...(options.workers ? { workers: options.workers } : {}),
    url: options.url,
    method: options.method ?? 'GET',
    body: options.body,
    headers: options.headers,
    connections: options.connections,
    duration: options.seconds,
  });
  const statuses: Record<string, number> = {};
  for (const [key, value] of Object.entries(result.statusCodeStats ?? {})) statuses[key] = value?.count ?? 0;
  return {
    requestsPerSecond: result.requests.average,
    statuses,
    latencyP50: result.latency.p50,
    latencyP99: result.latency.p99,
    errors: result.errors + result.timeouts + result.non2xx,
  };
}
