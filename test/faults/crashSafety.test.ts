// Issue 9, crash safety: simulated gitlab-ci-multi-runner 1.11.5 runners (test/support's
// simulator) take builds, append traces, upload artifacts and finish builds against the real
// server process, which is SIGKILLed at random moments FAULT_KILLS times (20 in make test) and
// restarted on the same port and DATA_DIR. After every restart:
// - every trace byte that got a 202 is stored, in order (the stored trace starts with them);
// - every artifact that got a 201 is downloadable whole, and any archive that can be
//   downloaded at all is whole (nothing partial is visible);
// - no build was handed to two runners (or twice to one).
// At the end the runners' own retries (the final PUT every 3 s, the 416 resend) have brought
// every build they got to its final state, with exactly the trace they sent. A build whose
// builds/register answer was cut by a kill is running on a runner that never heard of it (the
// v1 protocol has no way to re-offer it): the test shows each one is such a build, with
// nothing sent for it, and that the stuck-build rule finishes it, as in GitLab.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort, startServerProcess, type ServerProcess } from '../support/processes.js';
import { RunnerSimulator, RunnerProtocolError, type BuildPayload, type PatchReply, type UploadResult, type ArtifactsContent, type UploadOptions, type HttpReply } from '../support/runnerSimulator.js';
import { startTestCoordinator } from '../support/coordinator.js';
import { onlyOnSqlite } from '../support/database.js';
import { UserApi } from '../support/userApi.js';
import { unzipToMap, type FileContents } from '../support/zip.js';

const KILLS = Number(process.env.FAULT_KILLS ?? 20);
const SEED = Number(process.env.FAULT_SEED ?? 9);
const RUNNERS = 4;
const ADMIN_TOKEN = 'admin-token-for-the-crash-test';
const REGISTRATION_TOKEN = 'registration-token-for-the-crash-test';
const JOBS_PER_PIPELINE = 6;
const CI_CONFIG = Array.from({ length: JOBS_PER_PIPELINE }, (_, i) => `job${i}:\n  script: make\n  artifacts:\n    paths: [out]\n`).join('');

/** A small deterministic PRNG, so that a failing run can be repeated with FAULT_SEED. */
function prng(seed: number): () => number {
  let state = seed >>> 0 || 1;
  return () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 2 ** 32;
  };
}

/** What the runners were told: acknowledged trace bytes, stored artifacts, assignments, final states. */
class Ledger {
  /** build id → the trace bytes that got a 202, as a prefix of the runner's trace. */
  readonly acked = new Map<number, Buffer>();
  /** build id → the files of its archive that got a 201. */
  readonly stored = new Map<number, FileContents>();
  /** build id → the runners it was handed to. */
  readonly assigned = new Map<number, string[]>();
  /** build id → the full trace of a final PUT that got 200. */
  readonly finished = new Map<number, string>();
  readonly projectOf = new Map<number, number>();
  readonly registerFailures = new Map<string, number>();
  ackedBytesChecked = 0;
  artifactBytesChecked = 0;
}

/** The simulator, recording what the server acknowledged as its answers arrive. */
class RecordingRunner extends RunnerSimulator {
  constructor(baseUrl: string, token: string, readonly name: string, private readonly ledger: Ledger) {
    super(baseUrl, token, { updateRetryDelayMs: 3000, maxFinalUpdateAttempts: 60, artifactsRetryDelayMs: 1000, requestTimeoutMs: 30_000 });
  }

  override async requestBuild(): Promise<BuildPayload | null> {
    try {
      const build = await super.requestBuild();
      if (build) this.ledger.assigned.set(build.id, [...(this.ledger.assigned.get(build.id) ?? []), this.name]);
      return build;
    } catch (err) {
      if (err instanceof RunnerProtocolError && err.kind === 'network') this.ledger.registerFailures.set(this.name, (this.ledger.registerFailures.get(this.name) ?? 0) + 1);
      throw err;
    }
  }

  override async patchTrace(buildId: number | string, buildToken: string, offset: number, bytes: Buffer | string, options?: { contentRange?: string | null }): Promise<PatchReply> {
    const reply = await super.patchTrace(buildId, buildToken, offset, bytes, options);
    if (reply.status === 202 && options?.contentRange === undefined) {
      const id = Number(buildId);
      const before = this.ledger.acked.get(id) ?? Buffer.alloc(0);
      const chunk = typeof bytes === 'string' ? Buffer.from(bytes) : bytes;
      assert.ok(offset <= before.length, `build ${id}: a 202 for offset ${offset} past the acknowledged ${before.length}`);
      const next = Buffer.concat([before.subarray(0, offset), chunk]);
      if (next.length > before.length) this.ledger.acked.set(id, next);
    }
    return reply;
  }

  override async uploadArtifacts(buildId: number | string, buildToken: string, content: ArtifactsContent, options?: UploadOptions): Promise<UploadResult> {
    const result = await super.uploadArtifacts(buildId, buildToken, content, options);
    if (result.status === 201 && 'files' in content) this.ledger.stored.set(Number(buildId), content.files);
    return result;
  }

  override async putBuild(buildId: number | string, update: { state?: string; trace?: string; token?: string }): Promise<HttpReply> {
    const reply = await super.putBuild(buildId, update);
    if (reply.status === 200 && update.trace !== undefined && (update.state === 'success' || update.state === 'failed')) this.ledger.finished.set(Number(buildId), update.trace);
    return reply;
  }
}

// The server processes it kills keep their data in SQLite (the embedded default); the PostgreSQL
// run of make test would repeat the SQLite run, so it leaves this file out.
describe(`crash safety: ${KILLS} SIGKILLs under load (FAULT_SEED ${SEED})`, { skip: onlyOnSqlite('the killed servers run on SQLite') }, () => {
  let dataDir: string;
  let port: number;
  let server: ServerProcess | undefined;
  const ledger = new Ledger();
  const random = prng(SEED);

  const start = (): Promise<ServerProcess> =>
    startServerProcess({
      PORT: String(port),
      DATA_DIR: dataDir,
      CI_ADMIN_TOKEN: ADMIN_TOKEN,
      CI_REGISTRATION_TOKEN: REGISTRATION_TOKEN,
      CI_LONG_POLL_SECONDS: '0',
      HOUSEKEEPING_INTERVAL_SECONDS: '0',
      LOG_LEVEL: 'error',
    });

  const kill = async (running: ServerProcess): Promise<void> => {
    const exited = once(running.process.child, 'exit');
    running.process.child.kill('SIGKILL');
    await exited;
  };

  before(async () => {
    dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-faults-'));
    port = await freePort();
    server = await start();
  });
  after(async () => {
    await server?.process.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  /** Every invariant that must hold right after a restart (and at the end). */
  async function checkStored(api: UserApi): Promise<void> {
    for (const [buildId, runners] of ledger.assigned) assert.equal(runners.length, 1, `build ${buildId} was handed out ${runners.length} times: ${runners.join(', ')}`);
    await inBatches([...ledger.acked].map(([id, bytes]) => [id, Buffer.from(bytes)] as const), async ([buildId, acked]) => {
      const trace = await api.request('GET', `/api/v4/projects/${ledger.projectOf.get(buildId)}/jobs/${buildId}/trace`);
      assert.equal(trace.status, 200);
      const stored = Buffer.from(trace.text, 'utf8');
      assert.ok(stored.subarray(0, acked.length).equals(acked), `build ${buildId}: the stored trace does not start with the ${acked.length} acknowledged bytes`);
      ledger.ackedBytesChecked += acked.length;
    });
    await inBatches([...ledger.projectOf], async ([buildId, projectId]) => {
      const download = await fetch(`${api.baseUrl}/api/v4/projects/${projectId}/jobs/${buildId}/artifacts`, { headers: { 'PRIVATE-TOKEN': ADMIN_TOKEN } });
      const expected = ledger.stored.get(buildId);
      if (download.status === 404) {
        assert.equal(expected, undefined, `build ${buildId}: its 201'd artifacts are gone`);
        return;
      }
      assert.equal(download.status, 200, `build ${buildId}: download ${download.status}`);
      const bytes = Buffer.from(await download.arrayBuffer());
      // Whole, or it would not unzip; and the content the runner uploaded.
      const files = await unzipToMap(bytes);
      assert.deepEqual(Object.keys(files), ['out'], `build ${buildId}: archive ${Object.keys(files).join(',')}`);
      assert.ok(files.out!.equals(contentOf(buildId)), `build ${buildId}: the archive holds other bytes`);
      ledger.artifactBytesChecked += bytes.length;
    });
  }

  test('no acknowledged byte lost, no partial archive, no build handed out twice; every build reaches its final state', { timeout: 60_000 + KILLS * 15_000 }, async () => {
    const api = new UserApi(server!.url, ADMIN_TOKEN);
    const project = await api.createProject({ ci_config: CI_CONFIG });
    const runners: RecordingRunner[] = [];
    for (let i = 0; i < RUNNERS; i++) {
      const registered = await RunnerSimulator.register(server!.url, project.runners_token, { runUntagged: true, description: `runner ${i}` });
      registered.close();
      runners.push(new RecordingRunner(server!.url, registered.token, `runner ${i}`, ledger));
    }

    const unexpected: string[] = [];
    let feeding = true;
    let workersStop = false;
    const feed = async () => {
      while (feeding) {
        try {
          const pending = await api.request<{ status: string }[]>('GET', `/api/v4/projects/${project.id}/jobs?scope[]=pending&per_page=100`);
          if (pending.status === 200 && pending.body.length < RUNNERS * 2) await api.createPipeline(project.id, { ci_config: CI_CONFIG });
        } catch {
          // The server is down: try again in a moment.
        }
        await sleep(200);
      }
    };
    const work = async (runner: RecordingRunner) => {
      while (!workersStop) {
        let build: BuildPayload | null;
        try {
          build = await runner.requestBuild();
        } catch (err) {
          // The server is down (or went down mid-answer); anything else is a protocol failure.
          if (!(err instanceof RunnerProtocolError && err.kind === 'network')) unexpected.push(`${runner.name}: ${(err as Error).message}`);
          await sleep(100);
          continue;
        }
        if (!build) {
          await sleep(50);
          continue;
        }
        ledger.projectOf.set(build.id, build.project_id);
        const ticks = 3 + Math.floor(random() * 5);
        await runner.runBuild(build, {
          output: Array.from({ length: ticks }, (_, tick) => `build ${build!.id} tick ${tick}: ${randomBytes(8 + Math.floor(random() * 200)).toString('base64')} ✓\n`),
          artifacts: { files: { out: contentOf(build.id) } },
          finalOutput: 'Job succeeded\n',
          beforeTick: () => sleep(50 + random() * 150),
        });
      }
    };
    const feeder = feed();
    const workers = runners.map(work);

    let kills = 0;
    for (; kills < KILLS; kills++) {
      await sleep(200 + random() * 1000);
      await kill(server!);
      server = await start();
      await checkStored(api);
    }
    feeding = false;
    await feeder;

    // Drain: every build the runners got reaches its final state through their own retries.
    const deadline = Date.now() + 120_000;
    for (;;) {
      const rows: { id: number; status: string }[] = await readBuilds();
      const open = rows.filter((row) => row.status === 'pending' || (row.status === 'running' && ledger.assigned.has(row.id) && !ledger.finished.has(row.id)));
      if (open.length === 0) break;
      assert.ok(Date.now() < deadline, `builds still open: ${open.map((row) => `${row.id} ${row.status}`).join(', ')}`);
      await sleep(500);
    }
    workersStop = true;
    await Promise.all(workers);
    for (const runner of runners) runner.close();
    assert.deepEqual(unexpected, [], 'builds/register answered only as the protocol allows');
    await checkStored(api);

    const rows = await readBuilds();
    for (const row of rows.filter((r) => ledger.finished.has(r.id))) {
      assert.ok(['success', 'failed'].includes(row.status), `build ${row.id}: ${row.status}`);
      const trace = await api.request('GET', `/api/v4/projects/${project.id}/jobs/${row.id}/trace`);
      assert.equal(trace.text, ledger.finished.get(row.id), `build ${row.id}: the stored trace is the one of the final PUT`);
    }
    // Handed out by a commit whose answer a kill cut: nobody runs them, nothing was sent for them.
    const lost = rows.filter((row) => row.status === 'running' && !ledger.assigned.has(row.id));
    for (const row of lost) assert.equal(row.trace_length, 0, `build ${row.id}: lost, yet has a trace`);
    const failedRegisters = [...ledger.registerFailures.values()].reduce((sum, n) => sum + n, 0);
    assert.ok(lost.length <= failedRegisters, `${lost.length} lost builds, ${failedRegisters} builds/register calls cut`);
    assert.equal(rows.filter((row) => row.status === 'running' && ledger.assigned.has(row.id) && !ledger.finished.has(row.id)).length, 0);
    assert.equal(rows.filter((row) => row.status === 'pending').length, 0);

    await kill(server!);
    server = undefined;
    if (lost.length > 0) await stuckBuildsAreFinished(lost.map((row) => row.id));

    console.log(
      `faults: ${kills} SIGKILLs, ${ledger.assigned.size} builds run (${ledger.finished.size} finished by their runner, ${lost.length} lost to a cut builds/register answer), ` +
        `${ledger.ackedBytesChecked} acknowledged trace bytes and ${ledger.artifactBytesChecked} archive bytes checked after restarts`,
    );
  });

  async function readBuilds(): Promise<{ id: number; status: string; trace_length: number }[]> {
    // Through a second process on the same file: the server under test is a child process.
    const { default: knex } = await import('knex');
    const db = knex({ client: 'sqlite3', connection: { filename: path.join(dataDir, 'coordinator.sqlite3') }, useNullAsDefault: true });
    try {
      const rows: { id: number; status: string; trace_length: number }[] = await db('builds').select('id', 'status', 'trace_length').orderBy('id');
      return rows.map((row) => ({ ...row, trace_length: Number(row.trace_length) }));
    } finally {
      await db.destroy();
    }
  }

  /** GitLab's stuck-build rule (STUCK_BUILD_TIMEOUT_HOURS) finishes what no runner will: one housekeeping pass a day later. */
  async function stuckBuildsAreFinished(ids: number[]): Promise<void> {
    const dayLater = { now: () => new Date(Date.now() + 25 * 60 * 60 * 1000) };
    // The killed server's own database (its SQLite file), not a fresh one of the test run's store.
    const databaseUrl = `sqlite:${path.join(dataDir, 'coordinator.sqlite3')}`;
    const coordinator = await startTestCoordinator({ DATA_DIR: dataDir, DATABASE_URL: databaseUrl, CI_ADMIN_TOKEN: ADMIN_TOKEN, CI_REGISTRATION_TOKEN: REGISTRATION_TOKEN }, dayLater);
    try {
      await coordinator.housekeeping.runOnce();
      const rows: { id: number; status: string }[] = await coordinator.db('builds').whereIn('id', ids).select('id', 'status');
      assert.equal(rows.length, ids.length);
      for (const row of rows) assert.equal(row.status, 'failed', `lost build ${row.id} is finished by the stuck-build rule`);
    } finally {
      await coordinator.close();
    }
  }
});

/** Runs `check` over `items`, eight at a time. */
async function inBatches<T>(items: T[], check: (item: T) => Promise<void>): Promise<void> {
  for (let at = 0; at < items.length; at += 8) await Promise.all(items.slice(at, at + 8).map(check));
}

/** The archive content of a build: 256 KiB that do not compress, so an upload takes a while; checkable byte for byte. */
function contentOf(buildId: number): Buffer {
  const next = prng(buildId * 7919 + 1);
  const bytes = Buffer.alloc(256 * 1024);
  for (let at = 0; at < bytes.length; at += 4) bytes.writeUInt32LE(Math.floor(next() * 2 ** 32), at);
  return bytes;
}
