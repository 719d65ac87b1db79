import type { Knex } from 'knex';
import type { Db } from './db.js';
import { claimStrategy, isPostgres, tagListWithin } from './dialect.js';
import { buildFromRow, type BuildRecord } from './builds.js';
import { tokenVaultOf } from './tokenVault.js';
import { int } from './rows.js';
import type { RunnerApiVersion } from './runners.js';

/**
 * What a runner may pick, applied in SQL so that a long queue of builds it can't take
 * (tags it lacks, other projects when locked) is skipped by the database instead of
 * being read and discarded batch by batch.
 */
export interface PickFilter {
  runUntagged: boolean;
  tagList: string[];
  /** Set for a locked runner: only these projects' builds. */
  onlyProjectIds?: number[];
}

/** A project in the shared queue: its builds running on shared runners, and the first of its builds this runner may pick. */
export interface QueuedProject {
  projectId: number;
  runningOnShared: number;
  firstId: number;
}

/*
 * The candidate queries run inside claimStrategy(db).run (src/store/dialect.ts): on PostgreSQL
 * projectCandidates and specificRunnerCandidates lock the rows they return, skipping rows other
 * polls hold.
 */

/**
 * The shared queue in GitLab's fair order, one row per project: projects with the fewest builds
 * running on shared runners first, then the one whose first pickable build is oldest. The first
 * build of the first project is the build that sorting every pending build by (its project's
 * load, id) would put first, but read from indexes (migration 010) in time that grows with the
 * number of projects that have pending builds, not with the number of pending or running builds:
 * the projects are found by stepping through builds_queue_by_project_index one project at a
 * time, each project's load is counted from builds_project_load_index, and its first pickable
 * build is the first one in id order that the filter lets through.
 */
export async function sharedQueueProjects(db: Db, filter: PickFilter): Promise<QueuedProject[]> {
  const firstPickable = inQueueIndexOrder(
    pendingUnassigned(db, filter).andWhere('project.shared_runners_enabled', true).andWhereRaw('build.project_id = queued.project_id').select('build.id'),
  ).limit(1);
  const load = db('builds as running')
    .join('runners as runner', 'runner.id', 'running.runner_id')
    .whereRaw('running.project_id = queued.project_id')
    .andWhere('running.status', 'running')
    .andWhere('runner.is_shared', true)
    .count('*');
  // Each step is the next project_id in builds_queue_by_project_index. ORDER BY names the index's
  // leading columns so that PostgreSQL reads one entry (it does not count `runner_id is null` as
  // fixing the order, and min() would read the whole range).
  const result = await db.raw(
    `with recursive queued(project_id) as (
       select (select first.project_id from builds as first where first.status = 'pending' and first.runner_id is null
               order by first.status, first.runner_id, first.project_id limit 1)
       union all
       select (select next.project_id from builds as next
               where next.status = 'pending' and next.runner_id is null and next.project_id > queued.project_id
               order by next.status, next.runner_id, next.project_id limit 1)
       from queued where queued.project_id is not null
     )
     select queued.project_id, (?) as first_id, (?) as running_on_shared from queued where queued.project_id is not null`,
    [firstPickable, load],
  );
  const rows: Record<string, unknown>[] = Array.isArray(result) ? result : result.rows;
  return rows
    .filter((row) => row.first_id !== null && row.first_id !== undefined)
    .map((row) => ({ projectId: int(row.project_id), runningOnShared: int(row.running_on_shared), firstId: int(row.first_id) }))
    .sort((a, b) => a.runningOnShared - b.runningOnShared || a.firstId - b.firstId);
}

/** Pending builds of one project in builds_queue_by_project_index's order, which is id order (see sharedQueueProjects). */
function inQueueIndexOrder(query: Knex.QueryBuilder): Knex.QueryBuilder {
  return query.orderBy([{ column: 'build.status' }, { column: 'build.runner_id' }, { column: 'build.project_id' }, { column: 'build.id' }]);
}

/** These builds, of those still in the shared queue for this filter (a batch reading the first build of several projects at once). */
export async function sharedQueueBuilds(db: Db, filter: PickFilter, ids: readonly number[]): Promise<BuildRecord[]> {
  if (ids.length === 0) return [];
  const query = pendingUnassigned(db, filter).andWhere('project.shared_runners_enabled', true).whereIn('build.id', [...ids]).select('build.*');
  const rows: Record<string, unknown>[] = await claimStrategy(db).lockCandidates(query, 'build');
  const vault = tokenVaultOf(db);
  return rows.map((row) => buildFromRow(row, vault));
}

/** One project's builds in the shared queue that the runner may pick, from `fromId` on, oldest first. */
export async function projectCandidates(db: Db, projectId: number, filter: PickFilter, fromId: number, limit: number): Promise<BuildRecord[]> {
  const query = pendingUnassigned(db, filter)
    .andWhere('project.shared_runners_enabled', true)
    .andWhere('build.project_id', projectId)
    .andWhere('build.id', '>=', fromId)
    .select('build.*');
  inQueueIndexOrder(query).limit(limit);
  const rows: Record<string, unknown>[] = await claimStrategy(db).lockCandidates(query, 'build');
  const vault = tokenVaultOf(db);
  return rows.map((row) => buildFromRow(row, vault));
}

/** Builds of the projects a specific runner is assigned to, first in, first out. */
export async function specificRunnerCandidates(
  db: Db,
  runnerId: number,
  filter: PickFilter,
  afterId: number,
  limit: number,
): Promise<BuildRecord[]> {
  const query = pendingUnassigned(db, filter)
    .join('runner_projects as assigned', 'assigned.project_id', 'build.project_id')
    .andWhere('assigned.runner_id', runnerId)
    .andWhere('build.id', '>', afterId)
    .select('build.*')
    .orderBy('build.id', 'asc')
    .limit(limit);
  const rows: Record<string, unknown>[] = await claimStrategy(db).lockCandidates(query, 'build');
  const vault = tokenVaultOf(db);
  return rows.map((row) => buildFromRow(row, vault));
}

/** The queue: pending builds nobody holds, of projects that are not being deleted, that the runner may pick. */
function pendingUnassigned(db: Db, filter: PickFilter): Knex.QueryBuilder {
  const query = db('builds as build')
    .join('projects as project', 'project.id', 'build.project_id')
    .where('build.status', 'pending')
    .whereNull('build.runner_id')
    .andWhere('project.pending_delete', false);
  // tag_list is always written by JSON.stringify, so an untagged build's is exactly '[]'.
  if (!filter.runUntagged) query.andWhereNot('build.tag_list', '[]');
  if (filter.tagList.length === 0) query.andWhere('build.tag_list', '[]');
  else query.andWhereRaw(...tagListWithin(db, 'build.tag_list', filter.tagList));
  if (filter.onlyProjectIds) query.whereIn('build.project_id', filter.onlyProjectIds);
  return query;
}

/** holdRunnersForClaim for one runner (assignNextBuild's claim): whether it may still claim. */
export async function holdRunnerForClaim(db: Db, runnerId: number): Promise<boolean> {
  return (await holdRunnersForClaim(db, [runnerId])).has(runnerId);
}

/** How a claimed build is handed out: through which runner API, and whether its runner cancels gracefully (v4). */
export interface Handout {
  api: RunnerApiVersion;
  cancelGracefully: boolean;
}

/**
 * Gives a pending build to a runner. The condition in the UPDATE is the lock: of two
 * runners (or server processes) claiming the same build, exactly one changes the row.
 * The runner must still exist and be active at that moment: one deleted or paused by an
 * administrator while its poll was in flight gets nothing (instead of a foreign-key
 * error for a deleted one). The same write records how it is handed out.
 */
export async function claimBuild(db: Db, buildId: number, runnerId: number, now: string, handout?: Handout): Promise<boolean> {
  return (await claimBuilds(db, [{ buildId, runnerId, handout }], now)).has(buildId);
}

/** One build of a batch for one runner (see claimBuilds). */
export interface BatchClaim {
  buildId: number;
  runnerId: number;
  handout?: Handout;
}

/**
 * claimBuild for a batch's claims in one statement: each build given to its runner under the
 * same conditions (still pending and unassigned, the runner still there and active), so a claim
 * another writer got to first, or whose runner was paused or deleted meanwhile, changes nothing.
 * Returns the ids of the builds claimed.
 */
export async function claimBuilds(db: Db, claims: readonly BatchClaim[], now: string): Promise<Set<number>> {
  if (claims.length === 0) return new Set();
  // One row changed for two claims would read as both holding: one build, one runner.
  if (new Set(claims.map((claim) => claim.buildId)).size !== claims.length) throw new Error('a batch claims the same build twice');
  // Each claim's values chosen by the row's id; casts give PostgreSQL the types its
  // parameters alone don't. A claim without a handout keeps the row's own value.
  const byBuild = (type: string, value: (claim: BatchClaim) => Knex.Value | undefined, kept: string): Knex.Raw => {
    const cases = claims.map((claim): { sql: string; bindings: Knex.Value[] } => {
      const chosen = value(claim);
      return chosen === undefined ? { sql: `when ? then ${kept}`, bindings: [claim.buildId] } : { sql: `when ? then cast(? as ${type})`, bindings: [claim.buildId, chosen] };
    });
    return db.raw(`case builds.id ${cases.map((c) => c.sql).join(' ')} end`, cases.flatMap((c) => c.bindings));
  };
  const runnerOf = byBuild('integer', (claim) => claim.runnerId, 'runner_id');
  const rows: { id: number }[] = await db('builds')
    .whereIn('id', claims.map((claim) => claim.buildId))
    .andWhere('status', 'pending')
    .whereNull('runner_id')
    .whereExists(db('runners').where('runners.id', runnerOf).andWhere('runners.active', true).select(db.raw('1')))
    .update(
      {
        status: 'running',
        runner_id: runnerOf,
        started_at: now,
        updated_at: now,
        runner_api: byBuild('varchar(8)', (claim) => claim.handout?.api, 'runner_api'),
        cancel_gracefully: byBuild('boolean', (claim) => claim.handout?.cancelGracefully, 'cancel_gracefully'),
      },
      ['id'],
    );
  return new Set(rows.map((row) => int(row.id)));
}

/** markPipelinesRunning for one claimed build's pipeline (see assignNextBuild). */
export async function markPipelineRunning(db: Db, pipelineId: number, now: string): Promise<void> {
  await markPipelinesRunning(db, [pipelineId], now);
}

/**
 * Takes the store's write lock for the rest of the transaction before anything is read (SQLite:
 * an UPDATE takes it even when it changes no row). PostgreSQL locks rows instead: nothing to do.
 */
export async function holdQueueForBatch(db: Db): Promise<void> {
  if (isPostgres(db)) return;
  await db('builds').where({ id: 0 }).update({ id: 0 });
}

/**
 * The pipelines of claimed builds are running: written only where they are not yet, so that
 * claims of one pipeline's builds do not queue behind each other's lock on its row. PostgreSQL,
 * for several: their rows locked in id order, so that batches committing at once wait for each
 * other's pipeline rows in one order (never a deadlock). SQLite, whose transaction holds the
 * whole file: one statement.
 */
export async function markPipelinesRunning(db: Db, pipelineIds: readonly number[], now: string): Promise<void> {
  const ids = [...new Set(pipelineIds)].sort((a, b) => a - b);
  if (ids.length === 0) return;
  // One row's lock cannot be taken out of order: no need to lock it before writing it.
  if (!isPostgres(db) || ids.length === 1) {
    await db('pipelines').whereIn('id', ids).whereNot('status', 'running').update({ status: 'running', updated_at: now });
    return;
  }
  // Locked as the sorted rows come out (FOR UPDATE above ORDER BY), then written together.
  const locked: { id: number }[] = await db('pipelines').whereIn('id', ids).whereNot('status', 'running').orderBy('id').forUpdate().select('id');
  if (locked.length > 0) await db('pipelines').whereIn('id', locked.map((row) => row.id)).update({ status: 'running', updated_at: now });
}

/**
 * Those of these runners that may still claim (they exist and are active), each kept from being
 * deleted until the claim commits where the store can (see ClaimStrategy.lockRunner). Where it
 * cannot, all of them, without a query: the claim's UPDATE checks each runner anyway.
 */
export async function holdRunnersForClaim(db: Db, runnerIds: readonly number[]): Promise<Set<number>> {
  const { lockRunner } = claimStrategy(db);
  const ids = [...new Set(runnerIds)].sort((a, b) => a - b);
  if (!lockRunner || ids.length === 0) return new Set(ids);
  const rows: { id: number }[] = await lockRunner(db('runners').whereIn('id', ids).andWhere({ active: true }).select('id'));
  return new Set(rows.map((row) => int(row.id)));
}

/**
 * Undoes a claim whose runner never received its build (the client hung up meanwhile):
 * pending again, as before, keeping its place in the queue (queued_at, id), and never handed out.
 */
export async function unclaimBuild(db: Db, buildId: number, runnerId: number): Promise<boolean> {
  const updated = await db('builds')
    .where({ id: buildId, status: 'running', runner_id: runnerId })
    .update({ status: 'pending', runner_id: null, started_at: null, runner_api: null, cancel_gracefully: false });
  return updated === 1;
}
