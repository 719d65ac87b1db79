/**
 * The build columns of runner API v4 (migration 006): which API handed a build out, graceful
 * cancel, the runner's failure reason and exit code, and a final update waiting for its log.
 * Every change is a conditional UPDATE, so racing writers cannot both win.
 */
import type { Db } from './db.js';
import type { BuildStatus } from './builds.js';

/** running → canceling, only for a build held by a runner that cancels gracefully. */
export async function beginGracefulCancel(db: Db, buildId: number, now: string): Promise<boolean> {
  const updated = await db('builds').where({ id: buildId, status: 'running', cancel_gracefully: true }).update({ status: 'canceling', updated_at: now });
  return updated === 1;
}

/** A v4 keep-alive: the build was seen now (stuck-build housekeeping goes by updated_at). */
export async function touchRunningBuild(db: Db, buildId: number, statuses: BuildStatus[], now: string): Promise<void> {
  await db('builds').where({ id: buildId }).whereIn('status', statuses).update({ updated_at: now });
}

/** Remembers the first final update that had to wait; later ones keep that time. Answers the time in force. */
export async function finalUpdatePendingSince(db: Db, buildId: number, now: string): Promise<string> {
  await db('builds').where({ id: buildId }).whereNull('final_update_pending_since').update({ final_update_pending_since: now });
  const row: { final_update_pending_since: string | null } | undefined = await db('builds').where({ id: buildId }).first('final_update_pending_since');
  return row?.final_update_pending_since ?? now;
}
