/**
 * Deleting a project as GitLab did: flag it `pending_delete` (from then on it is gone for
 * runners and the API), answer, and remove its data in the background. The removal is
 * idempotent and works in small batches, so two processes may run it side by side, and a
 * process that dies midway leaves a flagged project that the next start finishes.
 */
import fs from 'node:fs/promises';
import type { Config } from '../config.js';
import { artifactsDirectory } from '../store/artifacts.js';
import { deleteBuilds, listProjectBuildIds } from '../store/builds.js';
import type { Db } from '../store/db.js';
import { deleteFlaggedProjectRows, listProjectIdsPendingDelete, markProjectPendingDelete } from '../store/projects.js';

/** Builds removed per transaction: short write locks, so runners are not held up meanwhile. */
const BUILDS_PER_BATCH = 100;

export interface DeletionDeps {
  db: Db;
  config: Pick<Config, 'dataDir'>;
  log: (line: string) => void;
}

/**
 * Flags the live project `projectId` for deletion and starts removing its data without
 * waiting for it. False when there is no such live project. The returned `removal`
 * settles when the data is gone (or the attempt failed and was logged); it never rejects.
 */
export async function deleteProject(deps: DeletionDeps, projectId: number): Promise<{ removal: Promise<void> } | false> {
  if (!(await markProjectPendingDelete(deps.db, projectId))) return false;
  return { removal: removeInBackground(deps, projectId) };
}

/** Finishes every deletion a stopped process left behind; for the server's start. Never rejects. */
export async function resumeProjectDeletions(deps: DeletionDeps): Promise<void> {
  try {
    for (const projectId of await listProjectIdsPendingDelete(deps.db)) await removeInBackground(deps, projectId);
  } catch (err) {
    deps.log(`error: resuming project deletions: ${err instanceof Error ? err.message : String(err)}`);
  }
}

async function removeInBackground(deps: DeletionDeps, projectId: number): Promise<void> {
  try {
    await removeFlaggedProject(deps.db, deps.config.dataDir, projectId);
  } catch (err) {
    // Left flagged: the next start (or another deletion pass) picks it up again.
    deps.log(`error: removing deleted project ${projectId}: ${err instanceof Error ? err.message : String(err)}`);
  }
}

/**
 * Removes a flagged project's builds batch by batch (archive directories first, then trace
 * chunks and rows), then its pipelines, variables, triggers, runner assignments and the
 * project row. Files go before their rows so that a crash never leaves a file nobody knows of.
 */
async function removeFlaggedProject(db: Db, dataDir: string, projectId: number): Promise<void> {
  for (;;) {
    const buildIds = await listProjectBuildIds(db, projectId, BUILDS_PER_BATCH);
    if (buildIds.length === 0) break;
    for (const buildId of buildIds) {
      await fs.rm(artifactsDirectory(dataDir, buildId), { recursive: true, force: true });
    }
    await db.transaction((trx) => deleteBuilds(trx, buildIds));
  }
  await deleteFlaggedProjectRows(db, projectId);
}
