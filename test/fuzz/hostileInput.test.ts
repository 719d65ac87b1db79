// Issue 9, hostile input: FUZZ_RUNS (10,000 in make test) requests generated from openapi.yaml by
// fast-check (test/fuzz/requestGenerator.ts) against a real server with real projects, runners,
// builds, artifacts and triggers to aim at. After every answer:
// - no 5xx, and an answer at all (the server did not crash or hang up without one);
// - every 4xx has Content-Type application/json and a string `message`;
// - a refused request changed nothing: the database (every row of every table) and DATA_DIR
//   (every file) are as before it. Accepted requests may change them.
// At the end: nothing outside DATA_DIR was written, every operation was tried, and the server's
// heap after a full GC is flat. The seed is fixed (FUZZ_SEED) and printed on failure.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import fc from 'fast-check';
import { OpenAPIBackend, type Operation } from 'openapi-backend';
import { specPath } from '../../src/http/openapiRouter.js';
import { isPostgres, type Db } from '../../src/store/db.js';
import { startTestCoordinator, type TestCoordinator } from '../support/coordinator.js';
import { isPostgresRun } from '../support/database.js';
import { rawExchange, type RawAnswer } from '../support/rawHttp.js';
import { RunnerSimulator } from '../support/runnerSimulator.js';
import { UserApi } from '../support/userApi.js';
import { fuzzRequestArbitrary, renderBody, renderHead, type FuzzRequest, type FuzzTargets } from './requestGenerator.js';

const SEED = Number(process.env.FUZZ_SEED ?? 20_261_203);
// On the PostgreSQL run of make test every refused request's check hashes every table over the
// network, so that run sends fewer; the SQLite run sends the 10,000.
const RUNS = Number(process.env.FUZZ_RUNS ?? (isPostgresRun() ? 2000 : 10_000));
/** The heap is measured after this many requests, once caches and pools are warm. */
const WARM_UP = Math.min(1000, Math.floor(RUNS / 5));
/** Fresh things to aim at every so often, since accepted requests delete and cancel what exists. */
const RESEED_EVERY = 1500;
/** Heap growth (after a full GC) allowed between the warm-up and the end of the run. */
const HEAP_GROWTH_LIMIT_BYTES = 16 * 1024 * 1024;
const VIEWER_TOKEN = 'viewer-token-for-the-fuzz-test';
const SHA = '97de212e80737a608d939f648d959671fb0a0142';
const CI_CONFIG = 'stages: [build, test]\nbuild:\n  stage: build\n  script: make\n  artifacts:\n    paths: [out]\nrspec:\n  stage: test\n  script: rspec\n';

v8.setFlagsFromString('--expose-gc');
const collectGarbage = vm.runInNewContext('gc') as () => void;

describe(`hostile requests from openapi.yaml (seed ${SEED}, ${RUNS} runs)`, () => {
  let parent: string;
  let coordinator: TestCoordinator;
  let api: UserApi;
  let operations: Operation[];
  const runners: RunnerSimulator[] = [];
  const targets: FuzzTargets = { pathValues: {}, ids: ['1'], tokens: [], privateTokens: [], fieldValues: {} };

  before(async () => {
    // DATA_DIR inside a directory of its own, so that a write outside it would show.
    parent = fs.mkdtempSync(path.join(os.tmpdir(), 'coordinator-fuzz-'));
    coordinator = await startTestCoordinator({ DATA_DIR: path.join(parent, 'data'), CI_VIEWER_TOKEN: VIEWER_TOKEN });
    api = new UserApi(coordinator.url, coordinator.adminToken);
    const spec = new OpenAPIBackend({ definition: specPath, quick: true });
    await spec.init();
    operations = spec.getOperations();
    targets.tokens.push(coordinator.adminToken, coordinator.registrationToken, VIEWER_TOKEN);
    targets.privateTokens.push(coordinator.adminToken, VIEWER_TOKEN);
    targets.fieldValues = { ref: ['master', 'v1.0'], sha: [SHA], ci_config: [CI_CONFIG, 'rspec: [', ''], state: ['success', 'failed', 'running'], expire_in: ['1 week', 'forever'] };
    await seed();
  });
  after(async () => {
    for (const runner of runners) runner.close();
    await coordinator.stop();
    fs.rmSync(parent, { recursive: true, force: true });
  });

  /** A project with variables, a trigger, a pipeline, a runner and a running build with a trace and artifacts. */
  async function seed(): Promise<void> {
    const project = await api.createProject({ ci_config: CI_CONFIG });
    await api.request('POST', `/api/v4/projects/${project.id}/variables`, { key: 'DEPLOY_KEY', value: 'fuzz-secret-value' });
    const trigger = await api.request<{ id: number; token: string }>('POST', `/api/v4/projects/${project.id}/triggers`, {});
    const pipeline = await api.createPipeline(project.id, { ci_config: CI_CONFIG });
    const runner = await RunnerSimulator.register(coordinator.url, project.runners_token, { runUntagged: true });
    runners.push(runner);
    const build = await runner.requestBuild();
    assert.ok(build);
    await runner.patchTrace(build.id, build.token, 0, 'first line\n');
    await runner.uploadArtifacts(build.id, build.token, { files: { out: 'artifact\n' } });
    const add = (name: string, value: unknown) => {
      if (value === undefined || value === null) return;
      (targets.pathValues[name] ??= []).push(String(value));
      targets.ids.push(String(value));
    };
    add('id', project.id);
    add('job_id', build.id);
    add('pipeline_id', pipeline.id);
    add('runner_id', runner.registration?.id);
    add('trigger_id', trigger.body.id);
    (targets.pathValues.key ??= []).push('DEPLOY_KEY');
    targets.tokens.push(runner.token, build.token, project.runners_token, trigger.body.token);
  }

  /**
   * What a refused request must leave as it was: every row of every table and every file
   * under DATA_DIR (not the database's own files), hashed. On SQLite the server has one
   * connection, whose total_changes() moves with every row written (also by a transaction
   * rolled back), so the rows are hashed again only when it moved.
   */
  let known = { changes: -1, rows: '' };
  async function fingerprint(db: Db): Promise<string> {
    const changes = isPostgres(db) ? -1 : Number(((await db.raw('select total_changes() as changes')) as { changes: number }[])[0]!.changes);
    if (changes === -1 || changes !== known.changes) known = { changes, rows: await rowsHash(db) };
    const hash = createHash('sha256').update(known.rows);
    for (const file of listFiles(coordinator.config.dataDir)) {
      if (/coordinator\.sqlite3/.test(file.name)) continue;
      hash.update(`${file.name}:${file.size}`);
    }
    return hash.digest('hex');
  }

  /**
   * The fingerprint once the server is quiet: the work answered requests left running (a
   * deleted project's data removal, which goes on after its 202 in several steps, files
   * first, then rows in batches) is done, and runner contacts are written. Waiting for that
   * work itself, rather than for the fingerprint to stop moving for a while, is what makes
   * the check deterministic: under load a removal could pause longer than the old 25 ms
   * between two of its steps, the fingerprint looked settled, and its remaining writes
   * landed after the next request, a refused one ("the database changed"). Taken the same
   * way after every request, refused ones included, so that a refused request's own
   * background writes would be seen, never missed.
   */
  async function quietFingerprint(): Promise<string> {
    await coordinator.backgroundWorkSettled();
    await coordinator.flushRunnerContacts();
    return fingerprint(coordinator.db);
  }

  test('no 5xx, a JSON message on every 4xx, nothing changed by a refused request, flat memory', async () => {
    const tried = new Map<string, number>();
    const statuses = new Map<number, number>();
    let state = await quietFingerprint();
    let warmHeap = 0;
    let sent = 0;
    let lastFailure: { request: FuzzRequest; problem: string } | undefined;
    let previous = 'none';
    let lastDump: Record<string, string> = {};

    const check = async (request: FuzzRequest): Promise<boolean> => {
      sent++;
      if (sent % RESEED_EVERY === 0) {
        await seed();
        state = await quietFingerprint();
      }
      if (sent === WARM_UP) {
        collectGarbage();
        warmHeap = process.memoryUsage().heapUsed;
      }
      if (process.env.FUZZ_DEBUG_AT === String(sent)) console.log(JSON.stringify({ head: renderHead(request), body: Buffer.concat(renderBody(request)).toString('latin1') }));
      tried.set(request.operationId, (tried.get(request.operationId) ?? 0) + 1);
      let answer: RawAnswer;
      try {
        answer = await rawExchange(coordinator.url, { head: renderHead(request), body: interleave(renderBody(request), request.pauseMs), headOnlyUnlessError: true, timeoutMs: 15_000 });
      } catch (err) {
        lastFailure = { request, problem: `no answer: ${(err as Error).message}` };
        return false;
      }
      statuses.set(answer.status, (statuses.get(answer.status) ?? 0) + 1);
      const problem = problemWith(answer);
      if (problem) {
        lastFailure = { request, problem };
        return false;
      }
      const accepted = answer.status < 400 || isNoBuildAnswer(request, answer);
      const now = await quietFingerprint();
      if (process.env.FUZZ_DEBUG) {
        const dump: Record<string, string> = {};
        for (const table of await tableNames(coordinator.db)) dump[table] = JSON.stringify(await coordinator.db(table).select('*'));
        for (const [table, rows] of Object.entries(dump)) if (lastDump[table] !== rows) console.log(`  table ${table}: ${lastDump[table]?.slice(0, 1500)}\n   -> ${rows.slice(0, 1500)}`);
        lastDump = dump;
      }
      if (process.env.FUZZ_DEBUG) console.log(`${sent} ${request.operationId} ${answer.status}${now !== state ? ' CHANGED' : ''} ${request.mutations.join('; ').slice(0, 120)}`);
      if (!accepted && now !== state) {
        lastFailure = { request, problem: `refused with ${answer.status} ${answer.body.toString().slice(0, 200)}, yet the database or DATA_DIR changed (the request before: ${previous})` };
        return false;
      }
      state = now;
      previous = `${request.operationId} ${answer.status} (${request.mutations.join('; ').slice(0, 200)})`;
      return true;
    };

    try {
      await fc.assert(
        fc.asyncProperty(fuzzRequestArbitrary(operations, targets), check),
        // The server's state moves on with every request, so shrinking would replay a different world.
        { seed: SEED, numRuns: RUNS, endOnFailure: true },
      );
    } catch (err) {
      const failure = lastFailure;
      assert.fail(
        `fuzz failure with FUZZ_SEED=${SEED} after ${sent} requests\n` +
          (failure ? `${failure.problem}\noperation: ${failure.request.operationId}\nmutations: ${failure.request.mutations.join('; ')}\n${renderHead(failure.request).slice(0, 600)}\n` : '') +
          String(err).split('\n').filter((line) => !line.startsWith('Counterexample')).join('\n').slice(0, 1500),
      );
    }

    collectGarbage();
    const endHeap = process.memoryUsage().heapUsed;
    const summary = [...statuses.entries()].sort(([a], [b]) => a - b).map(([status, count]) => `${status}×${count}`).join(' ');
    console.log(`fuzz: ${sent} requests (seed ${SEED}), statuses ${summary}; heap after GC ${mib(warmHeap)} → ${mib(endHeap)} MiB`);
    assert.ok(sent >= RUNS, `${sent} requests sent`);
    for (const operation of operations) {
      assert.ok((tried.get(operation.operationId!) ?? 0) > 0, `${operation.operationId} was never tried`);
    }
    assert.ok(endHeap - warmHeap < HEAP_GROWTH_LIMIT_BYTES, `heap grew from ${mib(warmHeap)} to ${mib(endHeap)} MiB`);
    assert.deepEqual(fs.readdirSync(parent), ['data'], 'nothing was written next to DATA_DIR');
    for (const file of listFiles(coordinator.config.dataDir)) {
      assert.match(file.name, /^(coordinator\.sqlite3(-wal|-shm)?|artifacts\/\d+\/[A-Za-z0-9]+\.zip|ci-secret-key|[\w.-]+)$/, `unexpected file ${file.name} in DATA_DIR`);
    }
    const live = await fetch(`${coordinator.url}/-/liveness`);
    assert.equal(live.status, 200, 'the server still answers');
  });
});

async function rowsHash(db: Db): Promise<string> {
  const hash = createHash('sha256');
  for (const table of await tableNames(db)) {
    const rows: unknown[] = await db(table).select('*');
    hash.update(table).update(JSON.stringify(rows, (_key, value: unknown) => (value instanceof Uint8Array ? Buffer.from(value).toString('hex') : value)));
  }
  return hash.digest('hex');
}

function problemWith(answer: RawAnswer): string | undefined {
  if (!(answer.status >= 100 && answer.status < 500)) return `status ${answer.status}: ${answer.body.toString().slice(0, 300)}`;
  if (answer.status >= 400) {
    if (answer.headers['content-type'] !== 'application/json') return `${answer.status} with Content-Type ${answer.headers['content-type']}`;
    const message = (answer.json as { message?: unknown } | undefined)?.message;
    if (typeof message !== 'string') return `${answer.status} without a JSON message: ${answer.body.toString().slice(0, 300)}`;
  }
  return undefined;
}

/** builds/register's "no build" for a runner that does not take 204: a valid poll, which records the runner's contact. */
function isNoBuildAnswer(request: FuzzRequest, answer: RawAnswer): boolean {
  return request.operationId.startsWith('registerBuild') && answer.status === 404 && (answer.json as { message?: string }).message === '404 Not Found';
}

function interleave(pieces: Buffer[], pauseMs: number): (Buffer | number)[] {
  return pieces.flatMap((piece, index) => (index > 0 && pauseMs > 0 ? [pauseMs, piece] : [piece]));
}

async function tableNames(db: Db): Promise<string[]> {
  if (isPostgres(db)) {
    const rows: { rows: { table_name: string }[] } = await db.raw("select table_name from information_schema.tables where table_schema = current_schema() and table_type = 'BASE TABLE' order by table_name");
    return rows.rows.map((row) => row.table_name);
  }
  const rows: { name: string }[] = await db.raw("select name from sqlite_master where type = 'table' order by name");
  return rows.map((row) => row.name);
}

function listFiles(root: string): { name: string; size: number }[] {
  const files: { name: string; size: number }[] = [];
  const walk = (dir: string) => {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) walk(full);
      else files.push({ name: path.relative(root, full), size: fs.statSync(full).size });
    }
  };
  if (fs.existsSync(root)) walk(root);
  return files.sort((a, b) => a.name.localeCompare(b.name));
}

function mib(bytes: number): string {
  return (bytes / 1024 / 1024).toFixed(1);
}
