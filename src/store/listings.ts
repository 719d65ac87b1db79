import type { Knex } from 'knex';
import type { Db } from './db.js';
import { buildFromRow, type BuildRecord, type BuildStatus } from './builds.js';
import { pipelineFromRow, type PipelineRecord, type PipelineStatus } from './pipelines.js';
import { projectFromRow, type ProjectRecord } from './projects.js';
import { tokenVaultOf } from './tokenVault.js';
import { int } from './rows.js';

/** Which rows of a listing to read: `limit` of them after skipping `offset`. */
export interface Slice {
  limit: number;
  offset: number;
}

/** One page of a listing and how many rows match in all. */
export interface ListingPage<T> {
  total: number;
  items: T[];
}

export interface PipelineFilter {
  status?: PipelineStatus;
  ref?: string;
}

/** A project's pipelines, newest first. */
export async function listProjectPipelines(db: Db, projectId: number, filter: PipelineFilter, slice: Slice): Promise<ListingPage<PipelineRecord>> {
  const matching = () => {
    const query = db('pipelines').where({ project_id: projectId });
    if (filter.status !== undefined) query.andWhere({ status: filter.status });
    if (filter.ref !== undefined) query.andWhere({ ref: filter.ref });
    return query;
  };
  const [total, rows] = await Promise.all([countOf(matching()), newestFirst(matching(), slice)]);
  const vault = tokenVaultOf(db);
  return { total, items: rows.map((row) => pipelineFromRow(row, vault)) };
}

/** A project's builds, newest first; only those in `statuses` when it is given. */
export async function listProjectBuilds(db: Db, projectId: number, statuses: BuildStatus[] | undefined, slice: Slice): Promise<ListingPage<BuildRecord>> {
  const matching = () => {
    const query = db('builds').where({ project_id: projectId });
    if (statuses !== undefined) query.whereIn('status', statuses);
    return query;
  };
  const [total, rows] = await Promise.all([countOf(matching()), newestFirst(matching(), slice)]);
  const vault = tokenVaultOf(db);
  return { total, items: rows.map((row) => buildFromRow(row, vault)) };
}

/** Projects that are not being deleted, newest first. */
export async function listLiveProjects(db: Db, slice: Slice): Promise<ListingPage<ProjectRecord>> {
  const matching = () => db('projects').where({ pending_delete: false });
  const [total, rows] = await Promise.all([countOf(matching()), newestFirst(matching(), slice)]);
  const vault = tokenVaultOf(db);
  return { total, items: rows.map((row) => projectFromRow(row, vault)) };
}

async function countOf(query: Knex.QueryBuilder): Promise<number> {
  const row = await query.count({ count: '*' }).first();
  return row ? int(row.count) : 0;
}

function newestFirst(query: Knex.QueryBuilder, slice: Slice): Promise<Record<string, unknown>[]> {
  return query.orderBy('id', 'desc').limit(slice.limit).offset(slice.offset).select('*');
}
