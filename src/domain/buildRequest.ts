/**
 * A runner's "anything for me?" (v1 builds/register, v4 jobs/request): claim the first
 * build it may take; when there is none, hold the request (long polling) until one is
 * queued for it or the time is up. Every attempt claims atomically through the queue; an
 * attempt at a queue version whose scan already found nothing costs no database work.
 */
import type { Db } from '../store/db.js';
import type { BuildRecord } from '../store/builds.js';
import { unclaimBuild, type Handout } from '../store/buildQueue.js';
import type { CoordinatorMetrics, RunnerApi } from '../observability/metrics.js';
import { assignNextBuilds, type ClaimRequest } from './buildQueue.js';
import type { ClaimLine } from './claimLine.js';
import { loadBuildContexts, type BuildContext } from './buildPayload.js';
import type { Clock } from './clock.js';
import type { RunnerEntry, RunnerQueues } from './longPolls.js';
import { processPipeline } from './pipelineProcessing.js';
import { announcePendingBuilds } from './queueAnnouncements.js';

export interface BuildRequestDeps {
  db: Db;
  clock: Clock;
  metrics: CoordinatorMetrics;
  runnerQueues: RunnerQueues;
  claimLine: ClaimLine;
}

export interface BuildRequestOptions {
  api: RunnerApi;
  /** How long to hold the request when there is nothing yet (0: answer at once). */
  holdMs: number;
  /** Aborts when the client went away; made on first use (an idle poll answered at once needs none). */
  gone: () => AbortSignal;
  /** The queue version the runner last saw (`last_update`), when it sent one. */
  lastUpdate: string | undefined;
  /** Reads the runner again after it changed: undefined once deleted or no longer known by its token. */
  reload(): Promise<RunnerEntry | undefined>;
  /** v4: the runner sent `features.cancel_gracefully`, so a user cancel of its build goes through `canceling`. */
  cancelGracefully?: boolean;
}

export type BuildRequestOutcome =
  /** `context`: everything its payload is made of, read with the claims of its batch. */
  | { kind: 'build'; build: BuildRecord; context: BuildContext; claimSeconds: number }
  /** Nothing for it: `version` is what it echoes next time (X-GitLab-Last-Update). */
  | { kind: 'none'; version: string }
  /** The client hung up: nothing to answer, nothing taken. */
  | { kind: 'gone' }
  /** Deleted or paused while its request was held. */
  | { kind: 'deleted' }
  | { kind: 'paused' };

export async function requestBuild(deps: BuildRequestDeps, first: RunnerEntry, options: BuildRequestOptions): Promise<BuildRequestOutcome> {
  const deadline = performance.now() + options.holdMs;
  let entry = first;
  let seen = options.lastUpdate;
  for (;;) {
    // Read before the scan: a build queued during the scan changes the version, so it is not missed.
    const version = entry.version;
    if (entry.emptyAt !== version && seen !== version) {
      const gone = options.gone();
      if (gone.aborted) return { kind: 'gone' };
      const claimStarted = performance.now();
      const request: ClaimRequest = { db: deps.db, clock: deps.clock, runner: entry.polling.runner, handout: handoutOf(options), gone };
      const claimed = await deps.claimLine.run(request, claimWithPayloads);
      if (claimed) {
        const { build } = claimed;
        entry.emptyAt = undefined;
        if (!gone.aborted) return { kind: 'build', build, context: claimed.context, claimSeconds: (performance.now() - claimStarted) / 1000 };
        // The client left while its build was being claimed: give the build back to the queue.
        await handBack(deps, build);
        return { kind: 'gone' };
      }
      // Skipped because its client left: that says nothing about the queue.
      if (gone.aborted) return { kind: 'gone' };
      entry.emptyAt = version;
    }
    seen = undefined;
    if (entry.version !== version) continue;
    const remaining = deadline - performance.now();
    if (remaining <= 0 || deps.runnerQueues.released) return { kind: 'none', version };
    const stopWaiting = deps.metrics.longPollWaiting(options.api);
    const reason = await deps.runnerQueues.wait(entry, remaining, options.gone()).finally(stopWaiting);
    if (reason === 'gone') return { kind: 'gone' };
    if (reason === 'timeout' || reason === 'released') return { kind: 'none', version: entry.version };
    if (reason === 'runner-changed') {
      const reloaded = await options.reload();
      if (!reloaded) return { kind: 'deleted' };
      if (!reloaded.polling.runner.active) return { kind: 'paused' };
      entry = reloaded;
    }
  }
}

/**
 * A batch's claims (one commit), then everything their payloads are made of, in a few queries
 * for the whole batch instead of several per build.
 */
async function claimWithPayloads(requests: ClaimRequest[]): Promise<({ build: BuildRecord; context: BuildContext } | undefined)[]> {
  const builds = await assignNextBuilds(requests);
  const subjects = builds.flatMap((build, i) => (build ? [{ build, runner: requests[i]!.runner }] : []));
  const contexts = new Map((await loadBuildContexts(requests[0]!.db, subjects)).map((context) => [context.build.id, context]));
  return builds.map((build) => (build ? { build, context: contexts.get(build.id)! } : undefined));
}

/** Through which API (and with which cancel) the build is handed out: recorded by the claim itself. */
function handoutOf(options: BuildRequestOptions): Handout {
  return { api: options.api, cancelGracefully: options.api === 'v4' && options.cancelGracefully === true };
}

/** Returns a build its runner will never hear of to the queue, as if it had never been claimed. */
async function handBack(deps: BuildRequestDeps, build: BuildRecord): Promise<void> {
  if (!(await unclaimBuild(deps.db, build.id, build.runnerId ?? 0))) return;
  await processPipeline(deps.db, build.pipelineId, deps.clock);
  await announcePendingBuilds(deps.db, [build]);
}
