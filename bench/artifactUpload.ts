/**
 * Issue 7's "artifact upload" target: a 1 GiB artifacts upload as the v1 runner sends it
 * (`POST builds/:id/artifacts`, multipart/form-data with one `file` part, Transfer-Encoding:
 * chunked, no Content-Length, Build-Token header), streamed from a generator in 32 KiB pieces
 * (Go's io.Copy) so the client never holds it. The coordinator runs as a process of its own
 * (src/server.ts, SQLite: the archive is a file in DATA_DIR, a store holds one row), so its RSS
 * is its own: sampled every 20 ms during the upload and its high-water mark reset before it
 * (/proc/<pid>/clear_refs), reported as peak − before. Throughput is set against a plain Node
 * server, also a process of its own, streaming the same body to a file on the same filesystem
 * (bench/streamToFileServer.ts), in the same run, the two in ABBA order. Each stored archive is
 * checked: its size on disk, and a download's SHA-256 against the bytes sent.
 * Targets: RSS growth ≤ 64 MiB; throughput ≥ 0.5 × the plain stream-to-file.
 */
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { freePort, startProcess, waitUntilAnswering, type StartedProcess } from '../test/support/processes.js';
import { UserApi } from '../test/support/userApi.js';
import { postJson, takeBuild } from './support.js';

const MIB = 1024 * 1024;
const UPLOAD_MIB = Number(process.env.ARTIFACT_MB ?? 1024);
const ROUNDS = Number(process.env.ARTIFACT_ROUNDS ?? 2);
const WARM_UP_MIB = 16;
/** What Go's io.Copy hands the runner's chunked writer at a time. */
const PIECE_BYTES = 32 * 1024;
const SAMPLE_MS = 20;
const RSS_TARGET_MIB = 64;
const THROUGHPUT_TARGET = 0.5;
const ADMIN_TOKEN = 'admin-token-for-the-upload-bench';
const REGISTRATION_TOKEN = 'registration-token-for-the-upload-bench';
const RUNNER_UA = 'gitlab-ci-multi-runner 1.11.5 (bench; go1.8; linux/amd64)';
const BOUNDARY = 'bench7a1f0c2b9e5d4c3b2a1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2e1d0';

/** Random, not repeating with a short period: 1 MiB of noise read from a moving offset. */
const NOISE = randomBytes(MIB + PIECE_BYTES);
function* artifactBytes(total: number): Generator<Buffer> {
  for (let sent = 0, i = 0; sent < total; i++) {
    const length = Math.min(PIECE_BYTES, total - sent);
    const offset = (i * 4099) % MIB;
    yield NOISE.subarray(offset, offset + length);
    sent += length;
  }
}

/** The runner's multipart body: one `file` part, nothing else (see runner-protocol.md 2.7). */
const PART_HEAD = Buffer.from(
  `--${BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="artifacts.zip"\r\nContent-Type: application/octet-stream\r\n\r\n`,
);
const PART_TAIL = Buffer.from(`\r\n--${BOUNDARY}--\r\n`);
function* multipartBody(total: number): Generator<Buffer> {
  yield PART_HEAD;
  yield* artifactBytes(total);
  yield PART_TAIL;
}

function sha256Of(chunks: Iterable<Buffer>): string {
  const hash = createHash('sha256');
  for (const chunk of chunks) hash.update(chunk);
  return hash.digest('hex');
}

interface Server {
  name: string;
  url: string;
  process: StartedProcess;
}

interface Upload {
  ms: number;
  /** The server's CPU time (user + system, all its threads) over the upload. */
  cpuMs: number;
  rssBeforeMib: number;
  rssPeakMib: number;
  status: number;
  body: string;
}

/** VmRSS or VmHWM of a process, in MiB. */
function memoryOf(pid: number, field: 'VmRSS' | 'VmHWM'): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, 'm').exec(status);
  if (!match?.[1]) throw new Error(`no ${field} for ${pid}`);
  return Number(match[1]) / 1024;
}

/**
 * Watches a process's RSS from now on: sampled every SAMPLE_MS, and its high-water mark reset
 * now (/proc/<pid>/clear_refs), so VmHWM at stop() is the peak even between samples.
 */
function watchRss(pid: number): { stop(): { rssBeforeMib: number; rssPeakMib: number } } {
  const rssBeforeMib = memoryOf(pid, 'VmRSS');
  fs.writeFileSync(`/proc/${pid}/clear_refs`, '5');
  let rssPeakMib = rssBeforeMib;
  const sampler = setInterval(() => (rssPeakMib = Math.max(rssPeakMib, memoryOf(pid, 'VmRSS'))), SAMPLE_MS);
  let stopped: { rssBeforeMib: number; rssPeakMib: number } | undefined;
  return {
    stop() {
      clearInterval(sampler);
      stopped ??= { rssBeforeMib, rssPeakMib: Math.max(rssPeakMib, memoryOf(pid, 'VmHWM')) };
      return stopped;
    },
  };
}

/** User + system CPU time of a process so far (every thread), in ms. */
function cpuTimeOf(pid: number): number {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  // The fields after the command name, which is in parentheses and may hold spaces.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ticks = Number(fields[11]) + Number(fields[12]);
  return (ticks * 1000) / CLOCK_TICKS_PER_SECOND;
}
/** USER_HZ, 100 on Linux. */
const CLOCK_TICKS_PER_SECOND = 100;

/** POSTs the multipart body chunked (no Content-Length) while sampling the server's RSS. */
async function upload(server: Server, requestPath: string, headers: Record<string, string>, bytes: number): Promise<Upload> {
  const pid = server.process.child.pid;
  if (!pid) throw new Error(`${server.name} has no pid`);
  const rss = watchRss(pid);
  const cpuBefore = cpuTimeOf(pid);
  const started = performance.now();
  try {
    const { status, body } = await new Promise<{ status: number; body: string }>((resolve, reject) => {
      const request = http.request(`${server.url}${requestPath}`, {
        method: 'POST',
        headers: { 'Content-Type': `multipart/form-data; boundary=${BOUNDARY}`, 'User-Agent': RUNNER_UA, ...headers },
      });
      request.on('response', (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve({ status: response.statusCode ?? 0, body: text }));
        response.on('error', reject);
      });
      request.on('error', reject);
      pipeline(Readable.from(multipartBody(bytes), { objectMode: false }), request).catch(reject);
    });
    const ms = performance.now() - started;
    return { ms, cpuMs: cpuTimeOf(pid) - cpuBefore, ...rss.stop(), status, body };
  } finally {
    rss.stop();
  }
}

async function startServer(name: string, args: string[], env: Record<string, string>, readyPath: string): Promise<Server> {
  const port = await freePort();
  const child = startProcess('node', args, { PORT: String(port), ...env });
  const url = `http://127.0.0.1:${port}`;
  await waitUntilAnswering(`${url}${readyPath}`, 60_000, child.output);
  return { name, url, process: child };
}

/** The one file under `dir` (an artifacts directory of one build). */
function onlyFile(dir: string): string {
  const names = fs.readdirSync(dir);
  if (names.length !== 1 || !names[0]) throw new Error(`${dir} holds ${names.length} files`);
  return path.join(dir, names[0]);
}

/** Downloads the build's archive, hashing it, while watching the server's RSS. */
async function downloadDigest(server: Server, build: { id: number; token: string }): Promise<{ size: number; sha256: string; ms: number; rssGrowthMib: number }> {
  const pid = server.process.child.pid;
  if (!pid) throw new Error(`${server.name} has no pid`);
  const rss = watchRss(pid);
  const started = performance.now();
  try {
    return { ...(await hashDownload(server.url, build)), ms: performance.now() - started, rssGrowthMib: rssGrowth(rss.stop()) };
  } finally {
    rss.stop();
  }
}

const rssGrowth = ({ rssBeforeMib, rssPeakMib }: { rssBeforeMib: number; rssPeakMib: number }) => rssPeakMib - rssBeforeMib;

async function hashDownload(url: string, build: { id: number; token: string }): Promise<{ size: number; sha256: string }> {
  const response = await fetch(`${url}/ci/api/v1/builds/${build.id}/artifacts`, { headers: { 'Build-Token': build.token } });
  if (response.status !== 200 || !response.body) throw new Error(`artifacts download answered ${response.status}`);
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { size, sha256: hash.digest('hex') };
}

const mib = (value: number) => value.toFixed(1);
const rate = (bytes: number, ms: number) => bytes / MIB / (ms / 1000);

export async function benchArtifactUpload(): Promise<string[]> {
  const bytes = UPLOAD_MIB * MIB;
  const expected = sha256Of(artifactBytes(bytes));
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-bench-upload-'));
  const plainDir = path.join(dataDir, 'plain');
  fs.mkdirSync(plainDir);
  const servers: Server[] = [];
  try {
    const coordinator = await startServer(
      'coordinator',
      // ARTIFACT_CPU_PROF=<dir>: a CPU profile of the coordinator, written when it exits.
      [...(process.env.ARTIFACT_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.ARTIFACT_CPU_PROF}`] : []), '--import', 'tsx', 'src/server.ts'],
      {
        HOST: '127.0.0.1',
        DATA_DIR: dataDir,
        // The archive is a file; SQLite holds its row whatever store the run offers.
        DATABASE_URL: '',
        CI_ADMIN_TOKEN: ADMIN_TOKEN,
        CI_REGISTRATION_TOKEN: REGISTRATION_TOKEN,
        // The default limit is 100 MiB: room for the upload (GitLab: size < max).
        MAX_ARTIFACTS_SIZE_MB: String(UPLOAD_MIB + 64),
        HOUSEKEEPING_INTERVAL_SECONDS: '0',
        CI_LONG_POLL_SECONDS: '0',
        LOG_LEVEL: 'warn',
      },
      '/-/liveness',
    );
    servers.push(coordinator);
    const plain = await startServer('plain', ['--import', 'tsx', 'bench/streamToFileServer.ts'], { STREAM_DIR: plainDir }, '/');
    servers.push(plain);

    const api = new UserApi(coordinator.url, ADMIN_TOKEN);
    const project = await api.createProject({ name: 'bench-upload' });
    const runner = await postJson(coordinator.url, '/ci/api/v1/runners/register.json', { token: project.runners_token });
    const jobs = ROUNDS + 1;
    await api.createPipeline(project.id, { ci_config: Array.from({ length: jobs }, (_, i) => `job${i}:\n  script: echo ${i}\n`).join('') });
    const builds: { id: number; token: string }[] = [];
    for (let i = 0; i < jobs; i++) builds.push(await takeBuild(coordinator.url, String(runner.body.token)));

    const toCoordinator = (build: { id: number; token: string }, size: number) =>
      upload(coordinator, `/ci/api/v1/builds/${build.id}/artifacts?`, { 'Build-Token': build.token }, size);
    const toPlain = (size: number) => upload(plain, '/', {}, size);

    // Warm-up: the first upload loads code and opens files that later ones reuse.
    const [warmBuild, ...measured] = builds;
    if (!warmBuild) throw new Error('no build');
    check(await toCoordinator(warmBuild, WARM_UP_MIB * MIB), 201);
    cleanPlain(check(await toPlain(WARM_UP_MIB * MIB), 201), plainDir);

    const results: { name: string; result: Upload }[] = [];
    const verified: string[] = [];
    // ABBA: plain, coordinator, coordinator, plain, ... so a drift in the machine's load hits both.
    for (let round = 0; round < ROUNDS; round++) {
      const build = measured[round];
      if (!build) throw new Error('no build');
      const coordinatorFirst = round % 2 === 1;
      for (const which of coordinatorFirst ? ['coordinator', 'plain'] : ['plain', 'coordinator']) {
        if (which === 'plain') {
          const result = check(await toPlain(bytes), 201);
          const stored = JSON.parse(result.body) as { size: number };
          const sent = PART_HEAD.length + bytes + PART_TAIL.length;
          if (stored.size !== sent) throw new Error(`plain stored ${stored.size} bytes, sent ${sent}`);
          cleanPlain(result, plainDir);
          results.push({ name: 'plain', result });
        } else {
          const result = check(await toCoordinator(build, bytes), 201);
          const file = onlyFile(path.join(dataDir, 'artifacts', String(build.id)));
          const size = fs.statSync(file).size;
          if (size !== bytes) throw new Error(`coordinator stored ${size} bytes, sent ${bytes}`);
          const downloaded = await downloadDigest(coordinator, build);
          if (downloaded.size !== bytes || downloaded.sha256 !== expected) {
            throw new Error(`download: ${downloaded.size} bytes, sha256 ${downloaded.sha256}; sent ${bytes}, ${expected}`);
          }
          verified.push(
            `build ${build.id}: ${size} bytes on disk; downloaded in ${downloaded.ms.toFixed(0)} ms, sha256 ${expected.slice(0, 16)}… matches; coordinator RSS growth over the download ${mib(downloaded.rssGrowthMib)} MiB`,
          );
          fs.rmSync(file);
          results.push({ name: 'coordinator', result });
        }
      }
    }

    const lines = [
      `${UPLOAD_MIB} MiB chunked multipart upload in ${PIECE_BYTES / 1024} KiB pieces, ${ROUNDS} per server (ABBA order); each server a process of its own`,
      '',
      '| server | upload | time ms | MiB/s | server CPU ms | RSS before MiB | RSS peak MiB | growth MiB |',
      '|---|---|---|---|---|---|---|---|',
    ];
    const order = new Map<string, number>();
    for (const { name, result } of results) {
      const n = (order.get(name) ?? 0) + 1;
      order.set(name, n);
      lines.push(
        `| ${name} | ${n} | ${result.ms.toFixed(0)} | ${rate(bytes, result.ms).toFixed(0)} | ${result.cpuMs.toFixed(0)} | ${mib(result.rssBeforeMib)} | ${mib(result.rssPeakMib)} | ${mib(rssGrowth(result))} |`,
      );
    }
    const of = (name: string) => results.filter((r) => r.name === name).map((r) => r.result);
    const totalMs = (uploads: Upload[]) => uploads.reduce((sum, u) => sum + u.ms, 0);
    const coordinatorRuns = of('coordinator');
    const plainRuns = of('plain');
    const throughput = rate(bytes * coordinatorRuns.length, totalMs(coordinatorRuns));
    const baseline = rate(bytes * plainRuns.length, totalMs(plainRuns));
    const growth = Math.max(...coordinatorRuns.map(rssGrowth));
    const ratio = throughput / baseline;
    lines.push(
      '',
      `coordinator ${throughput.toFixed(0)} MiB/s, plain stream-to-file ${baseline.toFixed(0)} MiB/s: ratio ${ratio.toFixed(2)}; target ≥ ${THROUGHPUT_TARGET}: ${ratio >= THROUGHPUT_TARGET ? 'met' : 'MISSED'}`,
      `coordinator RSS growth (worst upload) ${mib(growth)} MiB; target ≤ ${RSS_TARGET_MIB}: ${growth <= RSS_TARGET_MIB ? 'met' : 'MISSED'}`,
      ...verified,
    );
    return lines;
  } finally {
    for (const server of servers) await server.process.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

function check(result: Upload, status: number): Upload {
  if (result.status !== status) throw new Error(`upload answered ${result.status}: ${result.body.slice(0, 500)}`);
  return result;
}

function cleanPlain(result: Upload, dir: string): void {
  const { file } = JSON.parse(result.body) as { file: string };
  if (path.dirname(file) !== dir) throw new Error(`plain server wrote ${file}`);
  fs.rmSync(file);
}
