/**
 * What a user may do to builds and pipelines (GitLab 8.15's cancel, retry, play and erase),
 * and in which states. Every change is a conditional UPDATE or happens under the
 * pipeline's lock, so two users, or two server processes, cannot both win.
 */
import type { Db } from '../store/db.js';
import {
  findBuild,
  hasNewerBuildNamed,
  insertBuildCopy,
  listPipelineBuilds,
  markBuildErased,
  transitionBuild,
  type BuildRecord,
  type BuildStatus,
} from '../store/builds.js';
import { removeArtifactsFile } from '../store/artifacts.js';
import { findPipeline, lockPipeline, type PipelineRecord } from '../store/pipelines.js';
import { beginGracefulCancel } from '../store/jobStates.js';
import { overwriteTrace } from '../store/traces.js';
import type { Clock } from './clock.js';
import { processPipeline } from './pipelineProcessing.js';
import { announcePendingBuilds } from './queueAnnouncements.js';
import { latestPerName } from './pipelineStatus.js';
import { newToken } from './tokens.js';

/** `cancelable?`: not started or not finished yet; a job canceling gracefully may be canceled at once. */
const CANCELABLE: BuildStatus[] = ['created', 'pending', 'running', 'canceling'];
/** `retryable?` and (without its trace-or-artifacts condition) `erasable?`: finished. */
const FINISHED: BuildStatus[] = ['success', 'failed', 'canceled'];
/** What a pipeline retry repeats. */
const RETRIED_BY_PIPELINE: BuildStatus[] = ['failed', 'canceled'];

/** An action the subject's current status does not allow. */
export class IllegalTransition extends Error {
  constructor(action: string, subject: 'job' | 'pipeline', id: number, status: string, detail?: string) {
    super(`Cannot ${action} ${subject} ${id}: it is ${status}${detail ? `, ${detail}` : ''}`);
  }
}

/** The build or pipeline was removed meanwhile (its project was deleted). */
export class SubjectGone extends Error {}

/**
 * Cancels a build that has not finished; a runner running it learns it from its next PATCH or
 * PUT. A v4 runner that cancels gracefully gets `canceling` first (it runs after_script, then
 * reports, and the build ends canceled); canceling it again cancels it at once. v1 runners,
 * and v4 ones without graceful cancel, get the hard cancel.
 */
export async function cancelBuild(db: Db, clock: Clock, build: BuildRecord): Promise<BuildRecord> {
  if (!(await cancelOne(db, build.id, clock.now().toISOString()))) throw await illegal(db, build, 'cancel');
  await processPipeline(db, build.pipelineId, clock);
  return reread(db, build);
}

/** running → canceling for a graceful runner's build, else → canceled; false when it had finished. */
async function cancelOne(db: Db, buildId: number, now: string): Promise<boolean> {
  if (await beginGracefulCancel(db, buildId, now)) return true;
  return transitionBuild(db, buildId, CANCELABLE, 'canceled', { finished_at: now, updated_at: now });
}

/**
 * Repeats a finished build as a new build with the same definition, queued at once as
 * GitLab's Ci::Build.retry did; later stages that were skipped wait for it again. Only
 * the newest build of a name can be retried: that is also what keeps two simultaneous
 * retries from making two new builds. Answers the new build.
 */
export async function retryBuild(db: Db, clock: Clock, build: BuildRecord): Promise<BuildRecord> {
  const now = clock.now().toISOString();
  const retried = await db.transaction(async (trx) => {
    await lockPipeline(trx, build.pipelineId);
    const current = await reread(trx, build);
    if (!FINISHED.includes(current.status)) throw new IllegalTransition('retry', 'job', build.id, current.status);
    if (await hasNewerBuildNamed(trx, current)) {
      throw new IllegalTransition('retry', 'job', build.id, current.status, 'and was retried already');
    }
    const copy = await insertBuildCopy(trx, current, { token: newToken(), status: 'pending', now });
    await reopenLaterStages(trx, build.pipelineId, current.stageIdx, now);
    return copy;
  });
  await processPipeline(db, build.pipelineId, clock);
  await announcePendingBuilds(db, [retried]);
  return reread(db, retried);
}

/** Starts a manual build that waits to be played (`playable?`: manual and skipped). */
export async function playBuild(db: Db, clock: Clock, build: BuildRecord): Promise<BuildRecord> {
  if (build.when !== 'manual') throw new IllegalTransition('play', 'job', build.id, build.status, 'not a manual job');
  const now = clock.now().toISOString();
  if (!(await transitionBuild(db, build.id, ['skipped'], 'pending', { queued_at: now, updated_at: now }))) {
    throw await illegal(db, build, 'play');
  }
  await announcePendingBuilds(db, [build]);
  await processPipeline(db, build.pipelineId, clock);
  return reread(db, build);
}

/**
 * Removes a finished build's trace and artifacts and marks it erased, which closes its
 * build endpoints (403). The row is marked before the archive file goes, so no one is
 * offered a file being removed; only the file the row named then is removed.
 */
export async function eraseBuild(db: Db, clock: Clock, dataDir: string, build: BuildRecord): Promise<BuildRecord> {
  const now = clock.now().toISOString();
  const erased = await db.transaction(async (trx) => {
    const marked = await markBuildErased(trx, build.id, FINISHED, now);
    if (!marked) throw await illegal(trx, build, 'erase');
    await overwriteTrace(trx, build.id, Buffer.alloc(0));
    return marked;
  });
  for (const fileKey of erased.artifactsFileKeys) await removeArtifactsFile(dataDir, build.id, fileKey);
  return reread(db, build);
}

/**
 * Cancels every unfinished build of the pipeline. Nothing to cancel is not an error:
 * GitLab's `cancel_running` then did nothing and the API answered the pipeline.
 */
export async function cancelPipeline(db: Db, clock: Clock, pipeline: PipelineRecord): Promise<PipelineRecord> {
  const now = clock.now().toISOString();
  for (const build of await listPipelineBuilds(db, pipeline.id)) {
    if (CANCELABLE.includes(build.status)) await cancelOne(db, build.id, now);
  }
  await processPipeline(db, pipeline.id, clock);
  return rereadPipeline(db, pipeline);
}

/**
 * Retries the newest build of every name that failed or was canceled, as new `created`
 * builds, and lets pipeline processing queue them stage by stage (Ci::RetryPipelineService).
 */
export async function retryPipeline(db: Db, clock: Clock, pipeline: PipelineRecord): Promise<PipelineRecord> {
  const now = clock.now().toISOString();
  await db.transaction(async (trx) => {
    await lockPipeline(trx, pipeline.id);
    const retryable = latestPerName(await listPipelineBuilds(trx, pipeline.id)).filter((b) => RETRIED_BY_PIPELINE.includes(b.status));
    if (retryable.length === 0) {
      throw new IllegalTransition('retry', 'pipeline', pipeline.id, (await rereadPipeline(trx, pipeline)).status, 'with no failed or canceled job');
    }
    for (const build of retryable) await insertBuildCopy(trx, build, { token: newToken(), status: 'created', now });
    await reopenLaterStages(trx, pipeline.id, Math.min(...retryable.map((b) => b.stageIdx)), now);
  });
  await processPipeline(db, pipeline.id, clock);
  return rereadPipeline(db, pipeline);
}

/**
 * `mark_as_processable_after_stage`: skipped builds after `stageIdx` go back to `created`,
 * so that processing decides about them again once the retried builds finish.
 */
async function reopenLaterStages(db: Db, pipelineId: number, stageIdx: number, now: string): Promise<void> {
  const builds = latestPerName(await listPipelineBuilds(db, pipelineId));
  for (const build of builds.filter((b) => b.stageIdx > stageIdx && b.status === 'skipped')) {
    await transitionBuild(db, build.id, ['skipped'], 'created', { updated_at: now });
  }
}

/** The refusal of `action`, naming the status the build has now (a conditional update found it changed). */
async function illegal(db: Db, build: BuildRecord, action: string): Promise<IllegalTransition> {
  return new IllegalTransition(action, 'job', build.id, (await reread(db, build)).status);
}

async function reread(db: Db, build: Pick<BuildRecord, 'id'>): Promise<BuildRecord> {
  const current = await findBuild(db, build.id);
  if (!current) throw new SubjectGone(`build ${build.id} is gone`);
  return current;
}

async function rereadPipeline(db: Db, pipeline: Pick<PipelineRecord, 'id'>): Promise<PipelineRecord> {
  const current = await findPipeline(db, pipeline.id);
  if (!current) throw new SubjectGone(`pipeline ${pipeline.id} is gone`);
  return current;
}
