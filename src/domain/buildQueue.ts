/**
 * Who may pick which build, and how a runner takes one and hands it back
 * (GitLab 8.15's Ci::RegisterBuildService, Ci::Runner#can_pick? and the runner's PUT).
 */
import type { Db } from '../store/db.js';
import { transitionBuild, type BuildRecord } from '../store/builds.js';
import {
  claimBuild,
  holdRunnerForClaim,
  sharedRunnerCandidates,
  specificRunnerCandidates,
  type PickFilter,
  type SharedQueueCursor,
} from '../store/buildQueue.js';
import { claimStrategy } from '../store/dialect.js';
import { findRunner, listRunnerProjectIds, type RunnerRecord } from '../store/runners.js';
import type { Clock } from './clock.js';
import { processPipeline } from './pipelineProcessing.js';

export type RunnerPickRules = Pick<RunnerRecord, 'locked' | 'runUntagged' | 'tagList'>;

/**
 * `can_pick?`: a locked runner serves only its own projects; an untagged build needs a
 * runner that runs untagged builds; every tag of the build must be one of the runner's.
 */
export function canPick(
  runner: RunnerPickRules,
  runnerProjectIds: ReadonlySet<number>,
  build: Pick<BuildRecord, 'projectId' | 'tagList'>,
): boolean {
  if (runner.locked && !runnerProjectIds.has(build.projectId)) return false;
  if (!runner.runUntagged && build.tagList.length === 0) return false;
  const runnerTags = new Set(runner.tagList);
  return build.tagList.every((tag) => runnerTags.has(tag));
}

/**
 * Finds the first build in the runner's queue order that it may pick and claims it.
 * A lost claim (another runner was faster) moves on to the next candidate. Returns the
 * claimed build, now running, or undefined when there is nothing for this runner.
 * How the scan and the claim hold against other polls depends on the store (ClaimStrategy);
 * the pipeline advances after the claim is committed.
 */
export async function assignNextBuild(db: Db, clock: Clock, runner: RunnerRecord): Promise<BuildRecord | undefined> {
  const strategy = claimStrategy(db);
  const claimed = await strategy.run(db, async (scope) => {
    if (!(await holdRunnerForClaim(scope, runner.id))) return undefined;
    // Only a locked runner's picks depend on its projects; spare the query on every other poll.
    const lockedTo = runner.locked ? await listRunnerProjectIds(scope, runner.id) : undefined;
    const runnerProjectIds = new Set(lockedTo ?? []);
    const filter: PickFilter = { runUntagged: runner.runUntagged, tagList: runner.tagList, onlyProjectIds: lockedTo };
    for await (const build of candidatesFor(scope, runner, filter, strategy.batchSize)) {
      // The queries already apply these rules; checking again costs nothing and keeps
      // can_pick? the single statement of them.
      if (!canPick(runner, runnerProjectIds, build)) continue;
      if (await claimBuild(scope, build.id, runner.id, clock.now().toISOString())) return build;
      // A lost claim is usually another runner's win; but a runner deleted or paused since
      // its poll began would lose every claim, so don't let it walk the rest of the queue.
      if (!(await findRunner(scope, runner.id))?.active) return undefined;
    }
    return undefined;
  });
  if (!claimed) return undefined;
  await processPipeline(db, claimed.pipelineId, clock);
  return { ...claimed, status: 'running', runnerId: runner.id };
}

/** The runner's queue in its order, read `batchSize` candidates at a time, never loaded whole. */
async function* candidatesFor(db: Db, runner: RunnerRecord, filter: PickFilter, batchSize: number): AsyncGenerator<BuildRecord> {
  if (runner.isShared) {
    let cursor: SharedQueueCursor | undefined;
    for (;;) {
      const batch = await sharedRunnerCandidates(db, filter, cursor, batchSize);
      for (const queued of batch) yield queued.build;
      const last = batch[batch.length - 1];
      if (!last || batch.length < batchSize) return;
      cursor = { runningOnShared: last.runningOnShared, id: last.build.id };
    }
  }
  let afterId = 0;
  for (;;) {
    const batch = await specificRunnerCandidates(db, runner.id, filter, afterId, batchSize);
    yield* batch;
    const last = batch[batch.length - 1];
    if (!last || batch.length < batchSize) return;
    afterId = last.id;
  }
}

/** The states a runner may report; anything else it sends changes nothing. */
export type FinalState = 'success' | 'failed';

export function finalStateFrom(state: string | undefined): FinalState | undefined {
  return state === 'success' || state === 'failed' ? state : undefined;
}

/**
 * Ends a running build as the runner reports it and advances its pipeline. False when
 * the build was no longer running (e.g. canceled meanwhile), as GitLab's event answered.
 */
export async function finishBuild(db: Db, clock: Clock, build: BuildRecord, state: FinalState): Promise<boolean> {
  const now = clock.now().toISOString();
  const finished = await transitionBuild(db, build.id, ['running'], state, { finished_at: now, updated_at: now });
  if (finished) await processPipeline(db, build.pipelineId, clock);
  return finished;
}
