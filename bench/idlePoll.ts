/**
 * Issue 7's "idle poll" target: a runner's "anything for me?" on an empty queue, answered
 * 204, keep-alive, 64 connections, in requests per second, against a bare Koa app answering
 * 204 measured in the same run. Target: ≥ 0.7 × bare Koa.
 *
 * Cases: v1 `POST /ci/api/v1/builds/register.json` with the runner echoing `last_update` (as
 * gitlab-ci-multi-runner 9+ does with X-GitLab-Last-Update) and without it (older runners:
 * the server's own memory of the empty scan skips the database); v4 `POST /api/v4/jobs/request`
 * with `last_update` in its JSON body. The bodies are what real runners send (token and
 * `info`). The load generator (autocannon) runs in a worker thread of its own for the
 * baseline and the coordinator alike, so it never shares the event loop of the server it
 * measures; both servers run in this process's main thread. Rounds interleave the baseline
 * and every case, so machine noise hits them alike; a case's ratio is its mean over the
 * baseline's mean. The coordinators log nothing, as the baseline; one more coordinator (SQLite)
 * writes its request log (LOG_LEVEL=info, pino JSON lines into a stream that drops them), to
 * show what the log line of every poll costs. One more row, the no-coordinator ceiling
 * (ceilings.ts), shows what reading and parsing the runner's body and digesting its token cost
 * by themselves, in the same rounds.
 */
import { Writable } from 'node:stream';
import { startTestCoordinator, type TestCoordinator } from '../test/support/coordinator.js';
import { V4_RUNNER_UA } from '../test/support/v4Api.js';
import { registerTestRunner } from '../test/support/v4Runners.js';
import { startIdlePollCeiling } from './ceilings.js';
import { benchStores, loadTest, mean, postJson, startBareKoa, startBenchCoordinator, type LoadFigures } from './support.js';

const CONNECTIONS = 64;
const SECONDS = Number(process.env.IDLE_SECONDS ?? 5);
const ROUNDS = Number(process.env.IDLE_ROUNDS ?? 2);
const TARGET_RATIO = 0.7;

const V1_RUNNER_UA = 'gitlab-ci-multi-runner 1.11.5 (1-11-stable; go1.8.3; linux/amd64)';
const V1_INFO = { name: 'gitlab-ci-multi-runner', version: '1.11.5', revision: '5ca0e16', platform: 'linux', architecture: 'amd64', executor: 'shell' };
const V4_INFO = {
  name: 'gitlab-runner',
  version: '17.11.0',
  revision: '0f67ff19',
  platform: 'linux',
  architecture: 'amd64',
  executor: 'docker',
  shell: 'bash',
  features: { variables: true, image: true, services: true, artifacts: true, cache: true, upload_multiple_artifacts: true, refspecs: true, masking: true, trace_reset: true, trace_checksum: true, trace_size: true, cancelable: true, cancel_gracefully: true, return_exit_code: true },
  config: { gpus: '' },
};

interface Case {
  label: string;
  path: string;
  userAgent: string;
  /** The body every poll sends, given the queue version the first poll answered. */
  body(token: string, version: string): unknown;
  register(coordinator: TestCoordinator): Promise<string>;
}

const registerV1 = async (coordinator: TestCoordinator): Promise<string> =>
  String((await postJson(coordinator.url, '/ci/api/v1/runners/register.json', { token: coordinator.registrationToken })).body.token);
const registerV4 = async (coordinator: TestCoordinator): Promise<string> => (await registerTestRunner(coordinator.url, coordinator.registrationToken)).token;

const CASES: Case[] = [
  { label: 'v1 builds/register, last_update echoed', path: '/ci/api/v1/builds/register.json', userAgent: V1_RUNNER_UA, register: registerV1, body: (token, version) => ({ token, info: V1_INFO, last_update: version }) },
  { label: 'v1 builds/register, no last_update', path: '/ci/api/v1/builds/register.json', userAgent: V1_RUNNER_UA, register: registerV1, body: (token) => ({ token, info: V1_INFO }) },
  { label: 'v4 jobs/request, last_update echoed', path: '/api/v4/jobs/request', userAgent: V4_RUNNER_UA, register: registerV4, body: (token, version) => ({ token, system_id: 's_6b1bc8e2d3a4', info: V4_INFO, last_update: version }) },
];

interface Target {
  url: string;
  path: string;
  body?: string;
  headers?: Record<string, string>;
}

async function measure(target: Target): Promise<LoadFigures> {
  return loadTest({
    url: `${target.url}${target.path}`,
    method: 'POST',
    body: target.body,
    headers: target.headers,
    connections: CONNECTIONS,
    seconds: SECONDS,
    workers: 1,
  });
}

/** The first poll as a runner makes it: learns the queue version it then echoes. */
async function prepare(coordinator: TestCoordinator, idle: Case): Promise<Target> {
  const token = await idle.register(coordinator);
  const headers = { 'Content-Type': 'application/json', 'User-Agent': idle.userAgent };
  const first = await fetch(`${coordinator.url}${idle.path}`, { method: 'POST', headers, body: JSON.stringify(idle.body(token, '')) });
  await first.arrayBuffer();
  const version = first.headers.get('X-GitLab-Last-Update');
  if (first.status !== 204 || !version) throw new Error(`${idle.label}: first poll answered ${first.status} without a queue version`);
  return { url: coordinator.url, path: idle.path, headers, body: JSON.stringify(idle.body(token, version)) };
}

export async function benchIdlePoll(): Promise<string[]> {
  const bare = await startBareKoa();
  const ceiling = await startIdlePollCeiling();
  const coordinators: TestCoordinator[] = [];
  try {
    const targets: { store: string; idle: Case; target: Target }[] = [];
    for (const store of benchStores()) {
      const coordinator = await startBenchCoordinator(store);
      coordinators.push(coordinator);
      for (const idle of CASES) targets.push({ store, idle, target: await prepare(coordinator, idle) });
    }
    const logging = await startTestCoordinator({ LOG_LEVEL: 'info' }, undefined, { store: 'sqlite', logTo: discarding() });
    coordinators.push(logging);
    const logged = { ...CASES[0]!, label: `${CASES[0]!.label}, request log on` };
    targets.push({ store: 'sqlite', idle: logged, target: await prepare(logging, logged) });
    const baseline: LoadFigures[] = [];
    const ceilingFigures: LoadFigures[] = [];
    const figures = targets.map(() => [] as LoadFigures[]);
    for (let round = 0; round < ROUNDS; round++) {
      baseline.push(await measure({ url: bare.url, path: '/ci/api/v1/builds/register.json', headers: { 'Content-Type': 'application/json' }, body: '{}' }));
      // The first case's request, as the coordinator gets it.
      ceilingFigures.push(await measure({ ...targets[0]!.target, url: ceiling.url }));
      for (const [i, { target }] of targets.entries()) figures[i]!.push(await measure(target));
    }
    const bareRate = mean(baseline.map((f) => f.requestsPerSecond));
    const ceilingRate = mean(ceilingFigures.map((f) => f.requestsPerSecond));
    const lines = [
      `${CONNECTIONS} keep-alive connections, ${ROUNDS} rounds × ${SECONDS} s per case, interleaved; autocannon in a worker thread`,
      '',
      '| server | store | requests/s | p50 ms | p99 ms | statuses | × bare Koa | target |',
      '|---|---|---|---|---|---|---|---|',
      `| bare Koa 204 | - | ${bareRate.toFixed(0)} | ${mean(baseline.map((f) => f.latencyP50)).toFixed(1)} | ${mean(baseline.map((f) => f.latencyP99)).toFixed(1)} | ${statusesOf(baseline)} | 1.00 | |`,
      `| no-coordinator ceiling: Koa reading the body, token digest, 204 | - | ${ceilingRate.toFixed(0)} | ${mean(ceilingFigures.map((f) => f.latencyP50)).toFixed(1)} | ${mean(ceilingFigures.map((f) => f.latencyP99)).toFixed(1)} | ${statusesOf(ceilingFigures)} | ${(ceilingRate / bareRate).toFixed(2)} | |`,
    ];
    const verdicts: string[] = [];
    for (const [i, { store, idle }] of targets.entries()) {
      const runs = figures[i]!;
      const rate = mean(runs.map((f) => f.requestsPerSecond));
      const ratio = rate / bareRate;
      lines.push(
        `| ${idle.label} | ${store} | ${rate.toFixed(0)} | ${mean(runs.map((f) => f.latencyP50)).toFixed(1)} | ${mean(runs.map((f) => f.latencyP99)).toFixed(1)} | ${statusesOf(runs)} | ${ratio.toFixed(2)} | ≥ ${TARGET_RATIO} |`,
      );
      const only204 = runs.every((f) => Object.keys(f.statuses).every((status) => status === '204'));
      verdicts.push(`${store} ${idle.label}: ${ratio.toFixed(2)} × bare Koa; target ≥ ${TARGET_RATIO}: ${ratio >= TARGET_RATIO && only204 ? 'met' : 'MISSED'}${only204 ? '' : ' (answers other than 204)'}`);
    }
    return [...lines, '', ...verdicts];
  } finally {
    for (const coordinator of coordinators) await coordinator.stop();
    await bare.close();
    await ceiling.close();
  }
}

/** Where the logging coordinator's lines go: nowhere, after pino has made them. */
function discarding(): Writable {
  return new Writable({
    write(_chunk, _encoding, done) {
      done();
    },
  });
}


function statusesOf(runs: LoadFigures[]): string {
  const total: Record<string, number> = {};
  for (const run of runs) for (const [status, count] of Object.entries(run.statuses)) total[status] = (total[status] ?? 0) + count;
  return Object.entries(total)
    .map(([status, count]) => `${status}: ${count}`)
    .join(', ');
}
