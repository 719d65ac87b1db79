/**
 * Issue 7's "history" target: do polls and claims slow down as finished builds pile up?
 * Two coordinators on the same store, one holding HISTORY_SMALL (1,000) finished builds, the
 * other HISTORY_LARGE (1,000,000), measured in interleaved rounds. Target: cost at the large
 * history ≤ 1.2 × at the small one (indexes, not scans).
 *
 * The history is inserted with bulk SQL through knex (multi-row inserts, batched in
 * transactions): pipelines and finished builds (success, failed, skipped, canceled: see
 * OUTCOMES) on 10 projects, copied from a build the
 * API created (so every column is as the coordinator writes it), each with a token of its own
 * (digest and sealed form, as the coordinator stores them). PostgreSQL then gets VACUUM ANALYZE,
 * as its autovacuum would after such an insert, and a CHECKPOINT; SQLite keeps no statistics
 * (the coordinator never runs ANALYZE), so its planner decides on the schema alone.
 *
 * Figures per store and history:
 * - idle poll: v1 builds/register → 204 with last_update echoed, autocannon (64 connections, in
 *   a worker thread), requests/s: costs no database work by design;
 * - empty scan: the queue scan a poll makes when its runner's queue version moved
 *   (assignNextBuild finding nothing), one at a time, scans/s: the database's share of a poll;
 * - claim: CLAIM_BUILDS pending builds claimed through builds/register by CLAIM_RUNNERS runners
 *   at once, builds/s, every build handed out exactly once;
 * - runner deletion: `DELETE runners/delete` of a runner that ran nothing, one at a time,
 *   deletions/s (the builds' runner_id foreign key is checked and set to NULL on delete).
 * Then the plans (SQLite EXPLAIN QUERY PLAN, PostgreSQL EXPLAIN) of every query a scan and a
 * claim ran at the large history.
 */
import { randomBytes } from 'node:crypto';
import { assignNextBuild } from '../src/domain/buildQueue.js';
import { systemClock } from '../src/domain/clock.js';
import { isPostgres, type Db } from '../src/store/db.js';
import { findRunner } from '../src/store/runners.js';
import { tokenDigest } from '../src/store/tokenDigests.js';
import { tokenVaultOf } from '../src/store/tokenVault.js';
import type { TestCoordinator } from '../test/support/coordinator.js';
import { UserApi } from '../test/support/userApi.js';
import { benchStores, loadTest, mean, postJson, startBenchCoordinator } from './support.js';

const HISTORY_SMALL = Number(process.env.HISTORY_SMALL ?? 1_000);
const HISTORY_LARGE = Number(process.env.HISTORY_LARGE ?? 1_000_000);
const CLAIM_BUILDS = Number(process.env.CLAIM_BUILDS ?? 1_000);
const CLAIM_RUNNERS = 16;
const ROUNDS = 2;
const SCAN_MS = 2_000;
const IDLE_SECONDS = 3;
const PROJECTS = 10;
const BUILDS_PER_PIPELINE = 5;
const ROWS_PER_INSERT = 400;
/**
 * What the finished builds came to, in this proportion: mostly success, some failed (both ran
 * on a runner), and skipped and canceled ones that never had a runner (runner_id NULL, as a
 * pending build's is), so that the queue's "pending and runner_id NULL" cannot lean on the
 * runner alone.
 */
const OUTCOMES = [...Array<string>(16).fill('success'), 'failed', 'failed', 'skipped', 'canceled'];
const ROWS_PER_TRANSACTION = 50_000;
const TARGET_RATIO = 1.2;
const V1_UA = 'gitlab-ci-multi-runner 1.11.5 (1-11-stable; go1.8.3; linux/amd64)';

interface Site {
  history: number;
  coordinator: TestCoordinator;
  api: UserApi;
  projectIds: number[];
  scanRunnerId: number;
  idle: { body: string };
  fillMs: number;
}

interface Figures {
  idle: number[];
  scan: number[];
  claim: number[];
  deletion: number[];
}

const MEASURES = { idle: 'idle poll', scan: 'empty scan', claim: 'claim', deletion: 'runner deletion' } as const;
const DELETIONS = 20;

export async function benchHistory(): Promise<string[]> {
  const lines: string[] = [
    `finished builds stored: ${HISTORY_SMALL} vs ${HISTORY_LARGE}; ${ROUNDS} rounds, interleaved; idle poll ${IDLE_SECONDS} s at 64 connections; empty scans for ${SCAN_MS} ms one at a time; claims: ${CLAIM_BUILDS / ROUNDS} pending builds per round, ${CLAIM_RUNNERS} runners at once`,
    '',
    '| store | finished builds | idle poll req/s | empty scans/s | claims/s | runner deletions/s |',
    '|---|---|---|---|---|---|',
  ];
  const verdicts: string[] = [];
  const plans: string[] = [];
  const fills: string[] = [];
  for (const store of benchStores()) {
    const sites: Site[] = [];
    try {
      for (const history of [HISTORY_SMALL, HISTORY_LARGE]) sites.push(await prepareSite(store, history));
      for (const site of sites) fills.push(`${store}: ${site.history} finished builds inserted in ${(site.fillMs / 1000).toFixed(1)} s`);
      const figures = sites.map((): Figures => ({ idle: [], scan: [], claim: [], deletion: [] }));
      for (let round = 0; round < ROUNDS; round++) {
        // Alternate which history goes first, so that neither always meets a warmer machine.
        const order = round % 2 === 0 ? [0, 1] : [1, 0];
        for (const i of order) figures[i]!.idle.push(await idlePoll(sites[i]!));
        for (const i of order) figures[i]!.scan.push(await emptyScans(sites[i]!));
        for (const site of sites) await queueBuilds(site, CLAIM_BUILDS / ROUNDS);
        for (const i of order) figures[i]!.claim.push(await claims(sites[i]!, CLAIM_BUILDS / ROUNDS));
        for (const i of order) figures[i]!.deletion.push(await runnerDeletions(sites[i]!));
      }
      const means = figures.map((f) => ({ idle: mean(f.idle), scan: mean(f.scan), claim: mean(f.claim), deletion: mean(f.deletion) }));
      for (const [i, site] of sites.entries()) {
        const m = means[i]!;
        lines.push(`| ${store} | ${site.history} | ${m.idle.toFixed(0)} | ${m.scan.toFixed(0)} | ${m.claim.toFixed(0)} | ${m.deletion.toFixed(1)} |`);
      }
      const [small, large] = means as [(typeof means)[0], (typeof means)[0]];
      for (const measure of Object.keys(MEASURES) as (keyof typeof MEASURES)[]) {
        // Cost per operation at the large history over the cost at the small one.
        const ratio = small[measure] / large[measure];
        const name = MEASURES[measure];
        verdicts.push(`${store} ${name}: cost at ${HISTORY_LARGE} / at ${HISTORY_SMALL} = ${ratio.toFixed(2)}; target ≤ ${TARGET_RATIO}: ${ratio <= TARGET_RATIO ? 'met' : 'MISSED'}`);
      }
      plans.push(...(await queryPlans(store, sites[1]!)));
    } finally {
      for (const site of sites) await site.coordinator.stop();
    }
  }
  return [...lines, '', ...verdicts, '', ...fills, '', ...plans];
}

async function prepareSite(store: 'sqlite' | 'postgres', history: number): Promise<Site> {
  const coordinator = await startBenchCoordinator(store);
  const api = new UserApi(coordinator.url, coordinator.adminToken);
  const projectIds: number[] = [];
  for (let i = 0; i < PROJECTS; i++) projectIds.push((await api.createProject({ name: `history-${i}` })).id);
  const registerRunner = async () => String((await postJson(coordinator.url, '/ci/api/v1/runners/register.json', { token: coordinator.registrationToken })).body.token);
  // A build the API made, finished by a runner, is the pattern of every history row.
  await api.createPipeline(projectIds[0]!, { ci_config: 'build:\n  script: make\n' });
  const historyRunner = await registerRunner();
  const taken = await postJson(coordinator.url, '/ci/api/v1/builds/register.json', { token: historyRunner });
  if (taken.status !== 201) throw new Error(`pattern build not handed out: ${taken.status}`);
  const finished = await fetch(`${coordinator.url}/ci/api/v1/builds/${String(taken.body.id)}.json`, {
    method: 'PUT',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ token: historyRunner, state: 'success', trace: 'done\n' }),
  });
  if (finished.status !== 200) throw new Error(`pattern build not finished: ${finished.status}`);
  const started = performance.now();
  await insertHistory(coordinator.db, Number(taken.body.id), projectIds, history - 1);
  const fillMs = performance.now() - started;
  const scanToken = await registerRunner();
  const scanRunner = await idlePollRunner(coordinator, scanToken);
  return { history, coordinator, api, projectIds, scanRunnerId: scanRunner.id, idle: { body: scanRunner.body }, fillMs };
}

/** A runner that has polled once: its token, id and the body it then polls with (last_update echoed). */
async function idlePollRunner(coordinator: TestCoordinator, token: string): Promise<{ id: number; body: string }> {
  const first = await fetch(`${coordinator.url}/ci/api/v1/builds/register.json`, { method: 'POST', headers: { 'Content-Type': 'application/json', 'User-Agent': V1_UA }, body: JSON.stringify({ token }) });
  await first.arrayBuffer();
  const version = first.headers.get('X-GitLab-Last-Update');
  if (first.status !== 204 || !version) throw new Error(`idle poll answered ${first.status}`);
  const row = (await coordinator.db('runners').orderBy('id', 'desc').first('id')) as { id: number };
  return { id: Number(row.id), body: JSON.stringify({ token, last_update: version }) };
}

/**
 * `count` finished builds (and their pipelines) as copies of build `patternId`, in multi-row
 * INSERTs batched in transactions. Ids are given explicitly (so that builds can name their
 * pipelines without reading them back), and PostgreSQL's sequences are moved past them.
 */
async function insertHistory(db: Db, patternId: number, projectIds: number[], count: number): Promise<void> {
  const build = (await db('builds').where({ id: patternId }).first()) as Record<string, unknown>;
  const pipeline = (await db('pipelines').where({ id: build.pipeline_id }).first()) as Record<string, unknown>;
  const vault = tokenVaultOf(db);
  const firstPipeline = Number(((await db('pipelines').max({ id: 'id' }).first()) as { id: number }).id) + 1;
  const firstBuild = Number(((await db('builds').max({ id: 'id' }).first()) as { id: number }).id) + 1;
  const day = 24 * 60 * 60 * 1000;
  const epoch = Date.now() - 365 * day;
  for (let done = 0; done < count; ) {
    const inTransaction = Math.min(ROWS_PER_TRANSACTION, count - done);
    await db.transaction(async (trx) => {
      for (let batch = 0; batch < inTransaction; batch += ROWS_PER_INSERT) {
        const builds: Record<string, unknown>[] = [];
        const pipelines: Record<string, unknown>[] = [];
        for (let i = done + batch; i < done + Math.min(batch + ROWS_PER_INSERT, inTransaction); i++) {
          const pipelineId = firstPipeline + Math.floor(i / BUILDS_PER_PIPELINE);
          const projectId = projectIds[Math.floor(i / BUILDS_PER_PIPELINE) % projectIds.length]!;
          const at = new Date(epoch + i * 30_000).toISOString();
          const finishedAt = new Date(epoch + i * 30_000 + 20_000).toISOString();
          if (i % BUILDS_PER_PIPELINE === 0) pipelines.push({ ...pipeline, id: pipelineId, project_id: projectId, status: pipelineStatus(i), created_at: at, updated_at: finishedAt });
          const token = randomBytes(20).toString('hex');
          const outcome = OUTCOMES[i % OUTCOMES.length]!;
          builds.push({
            ...build,
            id: firstBuild + i,
            pipeline_id: pipelineId,
            project_id: projectId,
            name: `job${i % BUILDS_PER_PIPELINE}`,
            status: outcome,
            // Skipped and canceled-while-pending builds never had a runner, nor a start.
            runner_id: outcome === 'skipped' || outcome === 'canceled' ? null : build.runner_id,
            // No trace chunks are copied: the history's traces are empty.
            trace_length: 0,
            token_digest: tokenDigest(token),
            token_sealed: vault.seal(token),
            created_at: at,
            queued_at: outcome === 'skipped' ? null : at,
            started_at: outcome === 'skipped' || outcome === 'canceled' ? null : at,
            finished_at: outcome === 'skipped' ? null : finishedAt,
            updated_at: finishedAt,
          });
        }
        if (pipelines.length > 0) await trx('pipelines').insert(pipelines);
        await trx('builds').insert(builds);
      }
    });
    done += inTransaction;
  }
  if (isPostgres(db)) {
    for (const table of ['pipelines', 'builds']) await db.raw(`select setval(pg_get_serial_sequence('${table}', 'id'), (select max(id) from ${table}))`);
    // What autovacuum would do after such an insert (statistics, visibility map, hint bits),
    // and the insert's dirty pages written out, so that neither lands in the measurements.
    await db.raw('vacuum analyze');
    await db.raw('checkpoint');
  }
}

/** The status of the pipeline whose first build is the `first`th: failed or canceled as its builds were. */
function pipelineStatus(first: number): string {
  const outcomes = Array.from({ length: BUILDS_PER_PIPELINE }, (_, j) => OUTCOMES[(first + j) % OUTCOMES.length]);
  if (outcomes.includes('failed')) return 'failed';
  return outcomes.includes('canceled') ? 'canceled' : 'success';
}

async function idlePoll(site: Site): Promise<number> {
  const figures = await loadTest({
    url: `${site.coordinator.url}/ci/api/v1/builds/register.json`,
    method: 'POST',
    headers: { 'Content-Type': 'application/json', 'User-Agent': V1_UA },
    body: site.idle.body,
    connections: 64,
    seconds: IDLE_SECONDS,
    workers: 1,
  });
  if (Object.keys(figures.statuses).some((status) => status !== '204')) throw new Error(`idle poll answered ${JSON.stringify(figures.statuses)}`);
  return figures.requestsPerSecond;
}

/** The queue scan of a poll whose runner's queue moved, finding nothing (the queue is empty). */
async function emptyScans(site: Site): Promise<number> {
  const { db } = site.coordinator;
  const runner = (await findRunner(db, site.scanRunnerId))!;
  let scans = 0;
  const started = performance.now();
  while (performance.now() - started < SCAN_MS) {
    if (await assignNextBuild(db, systemClock, runner)) throw new Error('the empty scan found a build');
    scans++;
  }
  return (scans * 1000) / (performance.now() - started);
}

async function queueBuilds(site: Site, count: number): Promise<void> {
  const perPipeline = 100;
  const config = Array.from({ length: perPipeline }, (_, i) => `job${i}:\n  script: echo ${i}\n`).join('');
  for (let made = 0; made < count; made += perPipeline) {
    await site.api.createPipeline(site.projectIds[(made / perPipeline) % site.projectIds.length]!, { ci_config: config });
  }
}

/** `count` pending builds claimed by CLAIM_RUNNERS runners polling at once, until each gets 204. */
async function claims(site: Site, count: number): Promise<number> {
  const { url, registrationToken } = site.coordinator;
  const tokens: string[] = [];
  for (let i = 0; i < CLAIM_RUNNERS; i++) tokens.push(String((await postJson(url, '/ci/api/v1/runners/register.json', { token: registrationToken })).body.token));
  const handedOut: number[] = [];
  const started = performance.now();
  await Promise.all(
    tokens.map(async (token) => {
      for (;;) {
        const reply = await postJson(url, '/ci/api/v1/builds/register.json', { token });
        if (reply.status === 204) return;
        if (reply.status !== 201) throw new Error(`claim answered ${reply.status}`);
        handedOut.push(Number(reply.body.id));
      }
    }),
  );
  const ms = performance.now() - started;
  if (handedOut.length !== count || new Set(handedOut).size !== count) throw new Error(`${handedOut.length} builds handed out (${new Set(handedOut).size} distinct) of ${count}`);
  return (count * 1000) / ms;
}

/** Runners that ran nothing registered and deleted again (as a runner's unregister does), one at a time. */
async function runnerDeletions(site: Site): Promise<number> {
  const { url, registrationToken } = site.coordinator;
  let ms = 0;
  for (let i = 0; i < DELETIONS; i++) {
    const token = String((await postJson(url, '/ci/api/v1/runners/register.json', { token: registrationToken })).body.token);
    const started = performance.now();
    const reply = await fetch(`${url}/ci/api/v1/runners/delete.json`, { method: 'DELETE', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
    await reply.arrayBuffer();
    ms += performance.now() - started;
    if (reply.status !== 200) throw new Error(`runner deletion answered ${reply.status}`);
  }
  return (DELETIONS * 1000) / ms;
}

/**
 * The plan of every query an empty scan and a claim run: SQLite's EXPLAIN QUERY PLAN or
 * PostgreSQL's EXPLAIN, each printed once per distinct statement.
 */
async function queryPlans(store: string, site: Site): Promise<string[]> {
  const { db } = site.coordinator;
  const statements = new Map<string, unknown[]>();
  const record = (query: { sql: string; bindings?: unknown[] }) => {
    if (/^\s*(select|update|insert|delete|with)/i.test(query.sql) && !statements.has(query.sql)) statements.set(query.sql, query.bindings ?? []);
  };
  db.on('query', record);
  try {
    await emptyScansOnce(site);
    await queueBuilds(site, 100);
    const token = String((await postJson(site.coordinator.url, '/ci/api/v1/runners/register.json', { token: site.coordinator.registrationToken })).body.token);
    const reply = await postJson(site.coordinator.url, '/ci/api/v1/builds/register.json', { token });
    if (reply.status !== 201) throw new Error(`plan claim answered ${reply.status}`);
    await runnerDeletionOnce(site);
  } finally {
    db.off('query', record);
  }
  const lines = [`${store}, ${site.history} finished builds: plans of the queries of an empty scan, a pipeline's creation, a claim and a runner's registration and deletion`];
  let scans = 0;
  for (const [sql, bindings] of statements) {
    const plan = await explain(db, sql, bindings);
    // SQLite's SEARCH is a lookup by index; its SCAN reads the whole table or index (also a COVERING INDEX one).
    const scanning = plan.filter((line) => /\bSCAN (builds|pipelines)\b|Seq Scan on (builds|pipelines)\b/.test(line));
    scans += scanning.length;
    lines.push('', `    ${sql}`, ...plan.map((line) => `      ${line}`));
  }
  lines.push('', `${store}: full scans of builds or pipelines in these plans: ${scans}`);
  return lines;
}

async function runnerDeletionOnce(site: Site): Promise<void> {
  const { url, registrationToken } = site.coordinator;
  const token = String((await postJson(url, '/ci/api/v1/runners/register.json', { token: registrationToken })).body.token);
  const reply = await fetch(`${url}/ci/api/v1/runners/delete.json`, { method: 'DELETE', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ token }) });
  await reply.arrayBuffer();
}

async function emptyScansOnce(site: Site): Promise<void> {
  const runner = (await findRunner(site.coordinator.db, site.scanRunnerId))!;
  await assignNextBuild(site.coordinator.db, systemClock, runner);
}

async function explain(db: Db, sql: string, bindings: unknown[]): Promise<string[]> {
  if (isPostgres(db)) {
    const connection = await db.client.acquireConnection();
    try {
      const result = (await connection.query(`explain ${sql}`, bindings)) as { rows: { 'QUERY PLAN': string }[] };
      return result.rows.map((row) => row['QUERY PLAN']);
    } finally {
      await db.client.releaseConnection(connection);
    }
  }
  const rows = (await db.raw(`explain query plan ${sql}`, bindings as never[])) as { id: number; parent: number; detail: string }[];
  const depth = new Map<number, number>([[0, 0]]);
  return rows.map((row) => {
    const level = (depth.get(row.parent) ?? 0) + 1;
    depth.set(row.id, level);
    return `${'  '.repeat(level - 1)}${row.detail}`;
  });
}
