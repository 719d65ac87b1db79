import type { Knex } from 'knex';
import type { Db } from './db.js';
import { claimStrategy, tagListWithin } from './dialect.js';
import { buildFromRow, type BuildRecord } from './builds.js';
import { tokenVaultOf } from './tokenVault.js';
import { int } from './rows.js';

/** A pending build with the number of its project's builds now running on shared runners. */
export interface QueuedBuild {
  build: BuildRecord;
  runningOnShared: number;
}

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

/** Where the previous batch ended: the position of its last build in the queue order. */
export interface SharedQueueCursor {
  runningOnShared: number;
  id: number;
}

const RUNNING_ON_SHARED = 'coalesce(shared_load.running, 0)';

/*
 * The candidate queries run inside claimStrategy(db).run (src/store/dialect.ts): on PostgreSQL
 * they lock the rows they return, skipping rows other polls hold.
 */

/**
 * Builds a shared runner may be offered, in GitLab's fair order: projects with the fewest
 * builds running on shared runners first, then oldest build first. Keyset paging (not
 * OFFSET) so that builds claimed by other runners meanwhile cannot push unseen builds
 * past the window; a project whose load grows mid-scan merely shows up later again.
 */
export async function sharedRunnerCandidates(
  db: Db,
  filter: PickFilter,
  after: SharedQueueCursor | undefined,
  limit: number,
): Promise<QueuedBuild[]> {
  const sharedLoad = db('builds as running')
    .join('runners as runner', 'runner.id', 'running.runner_id')
    .where('running.status', 'running')
    .andWhere('runner.is_shared', true)
    .groupBy('running.project_id')
    .select('running.project_id')
    .count({ running: '*' })
    .as('shared_load');
  const query = pendingUnassigned(db, filter)
    .andWhere('project.shared_runners_enabled', true)
    .leftJoin(sharedLoad, 'shared_load.project_id', 'build.project_id')
    .select('build.*', db.raw(`${RUNNING_ON_SHARED} as running_on_shared`))
    .orderByRaw(`${RUNNING_ON_SHARED} asc, build.id asc`)
    .limit(limit);
  if (after) {
    query.andWhereRaw(`(${RUNNING_ON_SHARED} > ? or (${RUNNING_ON_SHARED} = ? and build.id > ?))`, [
      after.runningOnShared,
      after.runningOnShared,
      after.id,
    ]);
  }
  const rows: Record<string, unknown>[] = await claimStrategy(db).lockCandidates(query, 'build');
  const vault = tokenVaultOf(db);
  return rows.map((row) => ({ build: buildFromRow(row, vault), runningOnShared: int(row.running_on_shared) }));
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

/**
 * Whether the runner may still claim (it exists and is active), keeping it from being deleted
 * until the claim commits where the store can (see ClaimStrategy.lockRunner). Answers true
 * without a query where the claim's UPDATE checks it anyway.
 */
export async function holdRunnerForClaim(db: Db, runnerId: number): Promise<boolean> {
  const { lockRunner } = claimStrategy(db);
  if (!lockRunner) return true;
  return (await lockRunner(db('runners').where({ id: runnerId, active: true }).first('id'))) !== undefined;
}

/**
 * Gives a pending build to a runner. The condition in the UPDATE is the lock: of two
 * runners (or server processes) claiming the same build, exactly one changes the row.
 * The runner must still exist and be active at that moment: one deleted or paused by an
 * administrator while its poll was in flight gets nothing (instead of a foreign-key
 * error for a deleted one).
 */
export async function claimBuild(db: Db, buildId: number, runnerId: number, now: string): Promise<boolean> {
  const updated = await db('builds')
    .where({ id: buildId, status: 'pending' })
    .whereNull('runner_id')
    .whereExists(db('runners').where({ id: runnerId, active: true }).select(db.raw('1')))
    .update({ status: 'running', runner_id: runnerId, started_at: now, updated_at: now });
  return updated === 1;
}

/**
 * Undoes a claim whose runner never received its build (the client hung up meanwhile):
 * pending again, as before, keeping its place in the queue (queued_at, id).
 */
export async function unclaimBuild(db: Db, buildId: number, runnerId: number): Promise<boolean> {
  const updated = await db('builds')
    .where({ id: buildId, status: 'running', runner_id: runnerId })
    .update({ status: 'pending', runner_id: null, started_at: null });
  return updated === 1;
}
