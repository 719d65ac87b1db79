import type { Clock } from './clock.js';
import type { Db } from '../store/db.js';
import { listPipelineBuilds, transitionBuild, type BuildRecord } from '../store/builds.js';
import { lockPipeline, updatePipelineStatus } from '../store/pipelines.js';
import { compositeStatus, nextStatusForCreated } from './pipelineStatus.js';
import { announcePendingBuilds } from './queueAnnouncements.js';

/**
 * Advances a pipeline after any of its builds changed: stage by stage, `created`
 * builds whose earlier stages are complete become pending or skipped, then the
 * pipeline's status is derived again from its builds. Safe to call twice or from two
 * processes at once: build transitions are conditional, and the pipeline (its row on
 * PostgreSQL, the database on SQLite) is locked for the duration. Builds it queued are
 * announced once the transaction committed, so a woken runner finds them.
 */
export async function processPipeline(db: Db, pipelineId: number, clock: Clock): Promise<void> {
  const queued = await db.transaction(async (trx) => {
    const madePending: BuildRecord[] = [];
    await lockPipeline(trx, pipelineId);
    const now = clock.now().toISOString();
    const builds = await listPipelineBuilds(trx, pipelineId);
    const stageIndexes = [...new Set(builds.filter((b) => b.status === 'created').map((b) => b.stageIdx))].sort((a, b) => a - b);
    for (const stageIdx of stageIndexes) {
      const prior = compositeStatus(builds.filter((b) => b.stageIdx < stageIdx));
      for (const build of builds.filter((b) => b.stageIdx === stageIdx && b.status === 'created')) {
        const next = nextStatusForCreated(build.when, prior);
        if (!next) continue;
        const changes = next === 'pending' ? { queued_at: now, updated_at: now } : { updated_at: now };
        if (!(await transitionBuild(trx, build.id, ['created'], next, changes))) continue;
        build.status = next;
        if (next === 'pending') madePending.push(build);
      }
    }
    await updatePipelineStatus(trx, pipelineId, compositeStatus(builds) ?? 'success', now);
    return madePending;
  });
  await announcePendingBuilds(db, queued);
}
