import type { components } from '../generated/api.js';
import type { Db } from './db.js';
import { bool, int, intOrNull } from './rows.js';
import { tokenVaultOf, type TokenVault } from './tokenVault.js';

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
      variables_sealed: sealPipelineVariables(tokenVaultOf(db), pipeline.variables),
      triggered: pipeline.triggered,
      trigger_id: pipeline.triggerId,
      created_at: pipeline.createdAt,
      updated_at: pipeline.createdAt,
    })
    .returning('*');
  return pipelineFromRow(row, tokenVaultOf(db));
}

export async function findPipeline(db: Db, id: number): Promise<PipelineRecord | undefined> {
  const row = await db('pipelines').where({ id }).first();
  return row ? pipelineFromRow(row, tokenVaultOf(db)) : undefined;
}

/** Several pipelines by id, in one query (a batch of claims' payloads). */
export async function findPipelines(db: Db, ids: readonly number[]): Promise<Map<number, PipelineRecord>> {
  const rows: Record<string, unknown>[] = ids.length ? await db('pipelines').whereIn('id', [...new Set(ids)]) : [];
  const vault = tokenVaultOf(db);
  return new Map(rows.map((row) => [int(row.id), pipelineFromRow(row, vault)]));
}

export async function findPipelineInProject(db: Db, projectId: number, id: number): Promise<PipelineRecord | undefined> {
  const row = await db('pipelines').where({ id, project_id: projectId }).first();
  return row ? pipelineFromRow(row, tokenVaultOf(db)) : undefined;
}

/** The project's newest pipeline for `ref` (highest id), which tells a trigger the ref's head. */
export async function findNewestPipelineForRef(db: Db, projectId: number, ref: string): Promise<PipelineRecord | undefined> {
  const row = await db('pipelines').where({ project_id: projectId, ref }).orderBy('id', 'desc').first();
  return row ? pipelineFromRow(row, tokenVaultOf(db)) : undefined;
}

export async function updatePipelineStatus(db: Db, id: number, status: PipelineStatus, now: string): Promise<void> {
  await db('pipelines').where({ id }).update({ status, updated_at: now });
}

/** A row of `pipelines` as a record; `vault` opens its sealed variables. */
export function pipelineFromRow(row: Record<string, unknown>, vault: TokenVault): PipelineRecord {
  return {
    id: int(row.id),
    projectId: int(row.project_id),
    ref: String(row.ref),
    sha: String(row.sha),
    beforeSha: String(row.before_sha),
    tag: bool(row.tag),
    status: row.status as PipelineStatus,
    variables: openPipelineVariables(vault, row.variables_sealed),
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

/**
 * Request and trigger variables are secrets: kept sealed with the server secret (migration
 * 008), as a JSON list. A pipeline without any (most) keeps the plain `[]`, which says
 * nothing and spares a seal per pipeline.
 */
const NO_VARIABLES = '[]';

export function sealPipelineVariables(vault: TokenVault, variables: readonly PipelineVariable[]): string {
  return variables.length === 0 ? NO_VARIABLES : vault.seal(JSON.stringify(variables));
}

export function openPipelineVariables(vault: TokenVault, stored: unknown): PipelineVariable[] {
  if (stored === null || stored === undefined || stored === NO_VARIABLES) return [];
  return JSON.parse(vault.open(String(stored))) as PipelineVariable[];
}
