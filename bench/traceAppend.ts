/**
 * Issue 7's "trace append" target: does a 4 KiB trace PATCH cost more when the stored trace is
 * long? Latency of one 4 KiB append (p50, p99, mean) when the trace already holds 0, 10 MiB and
 * 100 MiB, through v1's `PATCH builds/:id/trace.txt` and v4's `PATCH jobs/:id/trace`, on each
 * store (traces live in the database's trace_chunks). The cases take turns, one append each, in
 * an order rotated each round, so machine noise hits them alike; every round's "0" case is a build
 * of its own, so it starts empty (and holds APPENDS_PER_ROUND × 4 KiB at its end), while the long
 * traces grow by at most 2% over the run. Long traces are filled as a runner with a lot of
 * output would: PATCHes of up to the trace body limit (MAX_BODY_SIZE_MB, 16 MiB).
 * Target: latency at 100 MiB ≤ 1.2 × at 0.
 */
import { V4Api, V4_RUNNER_UA } from '../test/support/v4Api.js';
import { registerTestRunner } from '../test/support/v4Runners.js';
import { quantile } from '../test/support/quantile.js';
import { UserApi } from '../test/support/userApi.js';
import { benchStores, mean, postJson, startBenchCoordinator, takeBuild } from './support.js';

const KIB = 1024;
const MIB = 1024 * KIB;
const APPEND_BYTES = 4 * KIB;
const ROUNDS = Number(process.env.TRACE_ROUNDS ?? 20);
const APPENDS_PER_ROUND = Number(process.env.TRACE_APPENDS ?? 25);
const FILL_MIB = [0, 10, 100] as const;
/** The body limit the coordinator runs with here (its default), and so the biggest fill PATCH. */
const MAX_BODY_MIB = 16;
const TARGET_RATIO = 1.2;

type Api = 'v1' | 'v4';
interface Trace {
  id: number;
  token: string;
  length: number;
}

/** Log-like bytes: numbered lines of text, as a build's output is. */
function traceText(bytes: number, seed: number): Buffer {
  const lines: string[] = [];
  let size = 0;
  for (let i = 0; size < bytes; i++) {
    const line = `[${seed}:${i}] compiling module ${(i * 7919) % 10007} of the project ... ok\n`;
    lines.push(line);
    size += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, bytes);
}

export async function benchTraceAppend(): Promise<string[]> {
  const lines: string[] = [
    `4 KiB appends: ${ROUNDS} rounds × ${APPENDS_PER_ROUND} per case, cases taking turns append by append; latency in ms; "0" = a fresh empty trace each round`,
    '',
    '| store | API | stored before | p50 | p99 | mean | mean / mean at 0 |',
    '|---|---|---|---|---|---|---|',
  ];
  const verdicts: string[] = [];
  const fills: string[] = [];
  for (const store of benchStores()) {
    const figures = await measureStore(store, fills);
    for (const api of ['v1', 'v4'] as const) {
      const zero = figures.get(`${api} 0`)!;
      for (const mib of FILL_MIB) {
        const f = figures.get(`${api} ${mib}`)!;
        lines.push(`| ${store} | ${api} | ${mib} MiB | ${f.p50.toFixed(2)} | ${f.p99.toFixed(2)} | ${f.mean.toFixed(2)} | ${(f.mean / zero.mean).toFixed(2)} |`);
      }
      const at100 = figures.get(`${api} 100`)!;
      const ratio = at100.mean / zero.mean;
      const p50Ratio = at100.p50 / zero.p50;
      verdicts.push(
        `${store} ${api}: 100 MiB / 0 = ${ratio.toFixed(2)} (mean), ${p50Ratio.toFixed(2)} (p50); target ≤ ${TARGET_RATIO}: ${Math.max(ratio, p50Ratio) <= TARGET_RATIO ? 'met' : 'MISSED'}`,
      );
    }
  }
  return [...lines, '', ...verdicts, '', ...fills];
}

interface Latency {
  p50: number;
  p99: number;
  mean: number;
}

async function measureStore(store: 'sqlite' | 'postgres', fills: string[]): Promise<Map<string, Latency>> {
  const jobsPerApi = ROUNDS + FILL_MIB.length - 1;
  const coordinator = await startBenchCoordinator(store, { MAX_BODY_SIZE_MB: String(MAX_BODY_MIB) });
  try {
    const api = new UserApi(coordinator.url, coordinator.adminToken);
    // Two projects, so that each runner (v1 shared, v4 project runner) takes only its own builds.
    const traces = new Map<Api, Trace[]>();
    for (const kind of ['v1', 'v4'] as const) {
      const config = Array.from({ length: jobsPerApi }, (_, i) => `job${i}:\n  script: echo ${i}\n`).join('');
      const project = await api.createProject({ name: `bench-${kind}` });
      if (kind === 'v1') {
        const runner = await postJson(coordinator.url, '/ci/api/v1/runners/register.json', { token: project.runners_token });
        await api.createPipeline(project.id, { ci_config: config });
        const taken: Trace[] = [];
        for (let i = 0; i < jobsPerApi; i++) taken.push({ ...(await takeBuild(coordinator.url, String(runner.body.token))), length: 0 });
        traces.set(kind, taken);
      } else {
        const runner = await registerTestRunner(coordinator.url, project.runners_token, { run_untagged: true });
        await api.createPipeline(project.id, { ci_config: config });
        const v4 = new V4Api(coordinator.url);
        const taken: Trace[] = [];
        for (let i = 0; i < jobsPerApi; i++) {
          const job = await v4.takeJob(runner.token);
          taken.push({ id: job.id, token: job.token, length: 0 });
        }
        traces.set(kind, taken);
      }
    }

    // The last builds of each API become the long traces; the others are each round's empty one.
    const cases: { name: string; api: Api; perRound: (round: number) => Trace }[] = [];
    for (const kind of ['v1', 'v4'] as const) {
      const all = traces.get(kind)!;
      const empties = all.slice(0, ROUNDS);
      cases.push({ name: `${kind} 0`, api: kind, perRound: (round) => present(empties[round]) });
      for (const [index, mib] of FILL_MIB.slice(1).entries()) {
        const trace = present(all[ROUNDS + index]);
        const started = performance.now();
        const patches = await fill(coordinator.url, kind, trace, mib * MIB);
        fills.push(`${store} ${kind}: filled ${mib} MiB with ${patches} PATCHes in ${(performance.now() - started).toFixed(0)} ms`);
        cases.push({ name: `${kind} ${mib}`, api: kind, perRound: () => trace });
      }
    }

    const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
    const chunk = traceText(APPEND_BYTES, 1);
    for (let round = 0; round < ROUNDS; round++) {
      // Rotate which case goes first, so none always follows the same neighbour.
      const order = cases.map((_, i) => present(cases[(i + round) % cases.length]));
      // One append per case in turn, so a burst of load elsewhere lands on every case alike.
      for (let i = 0; i < APPENDS_PER_ROUND; i++) {
        for (const c of order) {
          const started = performance.now();
          await patch(coordinator.url, c.api, c.perRound(round), chunk);
          samples.get(c.name)!.push(performance.now() - started);
        }
      }
    }
    return new Map([...samples].map(([name, values]) => [name, summarise(values)]));
  } finally {
    await coordinator.stop();
  }
}

/** Answers how many PATCHes it took. */
async function fill(url: string, api: Api, trace: Trace, bytes: number): Promise<number> {
  let patches = 0;
  while (trace.length < bytes) {
    await patch(url, api, trace, traceText(Math.min(MAX_BODY_MIB * MIB, bytes - trace.length), patches++));
  }
  return patches;
}

async function patch(url: string, api: Api, trace: Trace, chunk: Buffer): Promise<void> {
  const start = trace.length;
  const response =
    api === 'v1'
      ? await fetch(`${url}/ci/api/v1/builds/${trace.id}/trace.txt`, {
          method: 'PATCH',
          headers: { 'Content-Type': 'text/plain', 'Build-Token': trace.token, 'Content-Range': `${start}-${start + chunk.length}`, 'User-Agent': RUNNER_V1_UA },
          body: new Uint8Array(chunk.buffer as ArrayBuffer, chunk.byteOffset, chunk.length),
        })
      : await fetch(`${url}/api/v4/jobs/${trace.id}/trace?debug_trace=false`, {
          method: 'PATCH',
          // v4 runners send the inclusive end.
          headers: { 'Content-Type': 'text/plain', 'JOB-TOKEN': trace.token, 'Content-Range': `${start}-${start + chunk.length - 1}`, 'User-Agent': V4_RUNNER_UA },
          body: new Uint8Array(chunk.buffer as ArrayBuffer, chunk.byteOffset, chunk.length),
        });
  const text = await response.text();
  if (response.status !== 202) throw new Error(`${api} trace PATCH at ${start} answered ${response.status}: ${text}`);
  const stored = Number((response.headers.get('range') ?? '0-0').split('-')[1]);
  if (stored !== start + chunk.length) throw new Error(`${api} trace PATCH at ${start}: Range ${response.headers.get('range')}`);
  trace.length = stored;
}

const RUNNER_V1_UA = 'gitlab-ci-multi-runner 1.11.5 (bench; go1.8; linux/amd64)';

function present<T>(value: T | undefined): T {
  if (value === undefined) throw new Error('missing bench fixture');
  return value;
}

function summarise(values: number[]): Latency {
  return { p50: quantile(values, 0.5), p99: quantile(values, 0.99), mean: mean(values) };
}
