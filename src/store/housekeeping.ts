/**
 * The queries of the housekeeping passes. Several server processes may run a pass at the
 * same moment, so every change is one conditional UPDATE: the conditions are the claim,
 * and of two processes acting on the same row exactly one changes it.
 */
import type { BuildStatus } from './builds.js';
import type { Db } from './db.js';
import { int } from './rows.js';

/** An expired artifact as it was seen; its removal is conditional on the file key (forgetArtifacts). */
export interface ExpiredArtifacts {
  /** The job_artifacts row, for paging. */
  id: number;
  buildId: number;
  fileKey: string;
}

// `canceling`: a v4 runner that went away while running after_script.
export type StuckStatus = Extract<BuildStatus, 'pending' | 'running' | 'canceling'>;

export interface StuckBuild {
  id: number;
  pipelineId: number;
  status: StuckStatus;
}

/** Artifacts (of any type) that expired at or before `now`, in row id order after `afterId`. */
export async function listExpiredArtifacts(db: Db, now: string, afterId: number, limit: number): Promise<ExpiredArtifacts[]> {
  const rows: Record<string, unknown>[] = await db('job_artifacts')
    .where('expire_at', '<=', now)
    .andWhere('id', '>', afterId)
    .orderBy('id')
    .limit(limit)
    .select('id', 'build_id', 'file_key');
  return rows.map((row) => ({ id: int(row.id), buildId: int(row.build_id), fileKey: String(row.file_key) }));
}

/**
 * Pending, running or canceling builds of live projects last updated before `cutoff`, in id order
 * after `afterId`. Builds of projects being deleted are left to the deletion, as GitLab's
 * worker (joining the default-scoped projects) left them.
 */
export async function listStuckBuilds(db: Db, cutoff: string, afterId: number, limit: number): Promise<StuckBuild[]> {
  const rows: Record<string, unknown>[] = await db('builds')
    .whereIn('status', ['pending', 'running', 'canceling'])
    .andWhere('updated_at', '<', cutoff)
    .andWhere('id', '>', afterId)
    .whereIn('project_id', liveProjectIds(db))
    .orderBy('id')
    .limit(limit)
    .select('id', 'pipeline_id', 'status');
  return rows.map((row) => ({ id: int(row.id), pipelineId: int(row.pipeline_id), status: row.status as StuckStatus }));
}

/**
 * Fails the build if it is still stuck exactly as listed: same status, not updated since
 * `cutoff`, project live. True when this call made the change.
 */
export async function failStuckBuild(db: Db, build: StuckBuild, cutoff: string, now: string): Promise<boolean> {
  const updated = await db('builds')
    .where({ id: build.id, status: build.status })
    .andWhere('updated_at', '<', cutoff)
    .whereIn('project_id', liveProjectIds(db))
    .update({ status: 'failed', finished_at: now, updated_at: now });
  return updated === 1;
}

function liveProjectIds(db: Db) {
  return db('projects').where({ pending_delete: false }).select('id');
}
