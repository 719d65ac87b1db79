import type { components } from '../generated/api.js';
import type { Db } from './db.js';
import { bool, int, intOrNull, json } from './rows.js';

export type PipelineStatus = components['schemas']['PipelineStatus'];
export type PipelineVariable = components['schemas']['PipelineVariable'];

export interface PipelineRecord {
  id: number;
  projectId: number;
  ref: string;
  sha: string;
  beforeSha: string;
  tag: boolean;
  status: PipelineStatus;
  /** Request variables, or trigger variables when `triggered`; secret either way. */
  variables: PipelineVariable[];
  triggered: boolean;
  triggerId: number | null;
  createdAt: string;
  updatedAt: string;
}

export type NewPipelineRecord = Omit<PipelineRecord, 'id' | 'status' | 'updatedAt'>;

export async function insertPipeline(db: Db, pipeline: NewPipelineRecord): Promise<PipelineRecord> {
  const [row] = await db('pipelines')
    .insert({
      project_id: pipeline.projectId,
      ref: pipeline.ref,
      sha: pipeline.sha,
      before_sha: pipeline.beforeSha,
      tag: pipeline.tag,
      status: 'created',
      variables: JSON.stringify(pipeline.variables),
      triggered: pipeline.triggered,
      trigger_id: pipeline.triggerId,
      created_at: pipeline.createdAt,
      updated_at: pipeline.createdAt,
    })
    .returning('*');
  return pipelineFromRow(row);
}

export async function findPipeline(db: Db, id: number): Promise<PipelineRecord | undefined> {
  const row = await db('pipelines').where({ id }).first();
  return row ? pipelineFromRow(row) : undefined;
}

export async function findPipelineInProject(db: Db, projectId: number, id: number): Promise<PipelineRecord | undefined> {
  const row = await db('pipelines').where({ id, project_id: projectId }).first();
  return row ? pipelineFromRow(row) : undefined;
}

/** The project's newest pipeline for `ref` (highest id), which tells a trigger the ref's head. */
export async function findNewestPipelineForRef(db: Db, projectId: number, ref: string): Promise<PipelineRecord | undefined> {
  const row = await db('pipelines').where({ project_id: projectId, ref }).orderBy('id', 'desc').first();
  return row ? pipelineFromRow(row) : undefined;
}

export async function updatePipelineStatus(db: Db, id: number, status: PipelineStatus, now: string): Promise<void> {
  await db('pipelines').where({ id }).update({ status, updated_at: now });
}

export function pipelineFromRow(row: Record<string, unknown>): PipelineRecord {
  return {
    id: int(row.id),
    projectId: int(row.project_id),
    ref: String(row.ref),
    sha: String(row.sha),
    beforeSha: String(row.before_sha),
    tag: bool(row.tag),
    status: row.status as PipelineStatus,
    variables: json<PipelineVariable[]>(row.variables, []),
    triggered: bool(row.triggered),
    triggerId: intOrNull(row.trigger_id),
    createdAt: String(row.created_at),
    updatedAt: String(row.updated_at),
  };
}

/**
 * Takes the pipeline's write lock for the rest of the transaction: a write first, so that
 * on SQLite the transaction holds the database's write lock before it reads anything,
 * and on PostgreSQL the pipeline row stays locked. Retries of one pipeline then run
 * one after the other, even from different processes.
 */
export async function lockPipeline(db: Db, id: number): Promise<void> {
  await db('pipelines').where({ id }).update({ updated_at: db.ref('updated_at') });
}
