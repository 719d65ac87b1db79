/**
 * The places that change the queue say so here, after their change committed: the one
 * statement of which change wakes whom (see queueSignals.ts).
 */
import type { Db } from '../store/db.js';
import type { BuildRecord } from '../store/builds.js';
import { findLiveProject } from '../store/projects.js';
import { queueSignalsOf } from './queueSignals.js';

/** These builds of one project became pending: wake the runners that may take one. */
export async function announcePendingBuilds(db: Db, builds: Pick<BuildRecord, 'projectId' | 'tagList'>[]): Promise<void> {
  const first = builds[0];
  if (!first) return;
  const project = await findLiveProject(db, first.projectId);
  // A project being deleted has no queue any more: nobody is to be woken for it.
  if (!project) return;
  queueSignalsOf(db).publish({
    kind: 'builds',
    projectId: project.id,
    sharedRunnersEnabled: project.sharedRunnersEnabled,
    tagLists: builds.map((build) => build.tagList),
  });
}

/** What this runner may take (or whether it still exists) changed. */
export function announceRunnerChange(db: Db, runnerId: number): void {
  queueSignalsOf(db).publish({ kind: 'runner', runnerId });
}
