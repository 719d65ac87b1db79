/**
 * Who may pick which build, and how a runner takes one and hands it back
 * (GitLab 8.15's Ci::RegisterBuildService, Ci::Runner#can_pick? and the runner's PUT).
 */
import type { Db } from '../store/db.js';
import { transitionBuild, type BuildRecord } from '../store/builds.js';
import {
  claimBuild,
  claimBuilds,
  holdRunnerForClaim,
  holdRunnersForClaim,
  markPipelineRunning,
  markPipelinesRunning,
  projectCandidates,
  sharedQueueBuilds,
  sharedQueueProjects,
  specificRunnerCandidates,
  holdQueueForBatch,
  type Handout,
  type PickFilter,
  type QueuedProject,
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
 * How the scan and the claim hold against other polls depends on the store (ClaimStrategy).
 *
 * The claim, its pipeline's status and how the build is handed out (`handout`) are one
 * commit: one fsync per claim, and no moment where a build runs in a pipeline still shown
 * pending. The pipeline needs none of processPipeline's work here: the claimed build is its
 * name's newest (a retry copies only finished builds), so with it running compositeStatus is
 * `running`, and pending → running completes no stage, so nothing created becomes pending.
 */
export async function assignNextBuild(db: Db, clock: Clock, runner: RunnerRecord, handout?: Handout, batch?: BatchPipelines): Promise<BuildRecord | undefined> {
  const strategy = claimStrategy(db);
  return strategy.run(db, async (scope) => {
    if (!(await holdRunnerForClaim(scope, runner.id))) return undefined;
    // Only a locked runner's picks depend on its projects; spare the query on every other poll.
    const lockedTo = runner.locked ? await listRunnerProjectIds(scope, runner.id) : undefined;
    const runnerProjectIds = new Set(lockedTo ?? []);
    const filter: PickFilter = { runUntagged: runner.runUntagged, tagList: runner.tagList, onlyProjectIds: lockedTo };
    for await (const build of candidatesFor(scope, runner, filter, strategy.batchSize)) {
      // The queries already apply these rules; checking again costs nothing and keeps
      // can_pick? the single statement of them.
      if (!canPick(runner, runnerProjectIds, build)) continue;
      const claimed = await claimOne(scope, clock, runner, build, handout, batch);
      if (claimed) return claimed;
      // A lost claim is usually another runner's win; but a runner deleted or paused since
      // its poll began would lose every claim, so don't let it walk the rest of the queue.
      if (!(await findRunner(scope, runner.id))?.active) return undefined;
    }
    return undefined;
  });
}

/** One runner's turn at the queue (see ClaimLine): `gone` aborts when its client left, and then it takes nothing. */
export interface ClaimRequest {
  db: Db;
  clock: Clock;
  runner: RunnerRecord;
  handout?: Handout;
  gone: AbortSignal;
}

/** Candidates a batch reads at once from one project's part of the shared queue. */
const BATCH_FETCH = 16;

/**
 * assignNextBuild for several requests at once, in their order, with every claim in one
 * transaction: one commit (one fsync on SQLite) for the lot, and a 201 still goes out only after
 * it. Shared runners with the same pick rules read the shared queue once per batch (SharedQueue),
 * so the fair order costs one scan for the batch, not one per claim, and the first builds of
 * the projects it will take are read in one query; their claims are chosen in memory and written
 * in one statement (BatchClaims). On SQLite the transaction starts with a write
 * so that it holds the file's write lock from its first statement (a transaction that first reads
 * could not take it later if another process wrote meanwhile), so what it reads stays true until
 * it commits. On PostgreSQL several batches run at once; their candidate reads lock what they
 * return and skip what another batch holds (FOR UPDATE SKIP LOCKED), as single claims do.
 */
export async function assignNextBuilds(requests: ClaimRequest[]): Promise<(BuildRecord | undefined)[]> {
  const first = requests[0];
  if (!first) return [];
  if (requests.length === 1) return [first.gone.aborted ? undefined : await assignNextBuild(first.db, first.clock, first.runner, first.handout)];
  return first.db.transaction(async (trx) => {
    await holdQueueForBatch(trx);
    const queues = new Map<string, SharedQueue>();
    const pipelines: BatchPipelines = new Set();
    const results: (BuildRecord | undefined)[] = requests.map(() => undefined);
    const claims = new BatchClaims(results, pipelines, first.clock);
    const inSharedQueue = (runner: RunnerRecord) => runner.isShared && !runner.locked;
    // PostgreSQL: the runners' rows held against deletion until the commit, as assignNextBuild does.
    const mayClaim = await holdRunnersForClaim(trx, requests.filter((request) => inSharedQueue(request.runner)).map((request) => request.runner.id));
    for (const [index, request] of requests.entries()) {
      const { runner } = request;
      if (request.gone.aborted) continue;
      if (!inSharedQueue(runner)) {
        // Its own claim could meet a build chosen for another: those are written first.
        await claims.write(trx);
        results[index] = await assignNextBuild(trx, request.clock, runner, request.handout, pipelines);
        continue;
      }
      if (!mayClaim.has(runner.id)) continue;
      const filter: PickFilter = { runUntagged: runner.runUntagged, tagList: [...runner.tagList].sort() };
      const key = JSON.stringify(filter);
      let queue = queues.get(key);
      if (!queue) queues.set(key, (queue = await SharedQueue.read(trx, filter, requests.length)));
      const build = await queue.next(trx, runner, claims.chosen);
      if (build) claims.choose(index, build, runner, request.handout);
    }
    await claims.write(trx);
    await markPipelinesRunning(trx, [...pipelines], first.clock.now().toISOString());
    return results;
  });
}

/**
 * A batch's claims from the shared queue, chosen in memory and written in one statement
 * (claimBuilds): one round trip for them all instead of one each. A build is chosen once in a
 * batch, whichever queue it was read from. Each claim is still conditional, so a claim that does
 * not hold when written (its runner paused meanwhile) gives its request nothing, as a lost claim
 * would; the build stays in the queue.
 */
class BatchClaims {
  /** Every build chosen in this batch, written or not. */
  readonly chosen = new Set<number>();
  private unwritten: { index: number; build: BuildRecord; runner: RunnerRecord; handout: Handout | undefined }[] = [];

  constructor(
    private readonly results: (BuildRecord | undefined)[],
    private readonly pipelines: BatchPipelines,
    private readonly clock: Clock,
  ) {}

  choose(index: number, build: BuildRecord, runner: RunnerRecord, handout: Handout | undefined): void {
    this.chosen.add(build.id);
    this.unwritten.push({ index, build, runner, handout });
  }

  /** Writes the claims chosen so far; each request whose claim held gets its build, now running. */
  async write(db: Db): Promise<void> {
    const claims = this.unwritten;
    if (claims.length === 0) return;
    this.unwritten = [];
    const now = this.clock.now().toISOString();
    const claimed = await claimBuilds(db, claims.map(({ build, runner, handout }) => ({ buildId: build.id, runnerId: runner.id, handout })), now);
    for (const { index, build, runner, handout } of claims) {
      if (!claimed.has(build.id)) continue;
      this.pipelines.add(build.pipelineId);
      this.results[index] = asClaimed(build, runner, now, handout);
    }
  }
}

interface QueuedProjectState extends QueuedProject {
  /** Candidates read and not yet tried, in id order. */
  buffered: BuildRecord[];
  /** Where the next read of its candidates starts. */
  nextFrom: number;
  /** Whether the last read was full (there may be more). */
  more: boolean;
}

/**
 * The shared queue as one batch sees it, in GitLab's fair order kept up to date in memory:
 * each claim adds one to its project's load, exactly as reading the queue again would show, so
 * the batch hands out the same builds in the same order as one scan per claim would.
 */
class SharedQueue {
  private constructor(
    private readonly filter: PickFilter,
    private readonly projects: QueuedProjectState[],
  ) {}

  /**
   * Reads the queue's projects, and the first builds of the first `demand` of them in one query:
   * claims spread over projects (each one adds to its project's load), so a batch of n claims
   * mostly takes the first build of n projects.
   */
  static async read(db: Db, filter: PickFilter, demand: number): Promise<SharedQueue> {
    const projects: QueuedProjectState[] = (await sharedQueueProjects(db, filter)).map((project) => ({ ...project, buffered: [], nextFrom: project.firstId, more: true }));
    const ahead = projects.slice(0, demand);
    const firsts = new Map((await sharedQueueBuilds(db, filter, ahead.map((project) => project.firstId))).map((build) => [build.id, build]));
    for (const project of ahead) {
      const build = firsts.get(project.firstId);
      if (!build) continue;
      project.buffered = [build];
      project.nextFrom = build.id + 1;
    }
    return new SharedQueue(filter, projects);
  }

  /**
   * The next build for this runner in the fair order, counted against its project's load as
   * if claimed; builds in `chosen` (taken in this batch already) are passed over.
   */
  async next(db: Db, runner: RunnerRecord, chosen: ReadonlySet<number>): Promise<BuildRecord | undefined> {
    for (;;) {
      const project = this.head();
      if (!project) return undefined;
      const build = project.buffered.shift();
      if (!build) {
        if (project.more) await this.readMore(db, project);
        else this.projects.splice(this.projects.indexOf(project), 1);
        // Its first candidate may now be a later build: choose again.
        continue;
      }
      if (chosen.has(build.id) || !canPick(runner, new Set(), build)) continue;
      project.runningOnShared += 1;
      return build;
    }
  }

  /** The project whose next candidate comes first: fewest running on shared runners, then the oldest build. */
  private head(): QueuedProjectState | undefined {
    let best: QueuedProjectState | undefined;
    for (const project of this.projects) {
      if (!best || compareProjects(project, best) < 0) best = project;
    }
    return best;
  }

  private async readMore(db: Db, project: QueuedProjectState): Promise<void> {
    const batch = await projectCandidates(db, project.projectId, this.filter, project.nextFrom, BATCH_FETCH);
    project.buffered = batch;
    project.more = batch.length === BATCH_FETCH;
    const last = batch[batch.length - 1];
    if (last) project.nextFrom = last.id + 1;
  }
}

function compareProjects(a: QueuedProjectState, b: QueuedProjectState): number {
  return a.runningOnShared - b.runningOnShared || (a.buffered[0]?.id ?? a.nextFrom) - (b.buffered[0]?.id ?? b.nextFrom);
}

/** The pipelines of a batch's claims, marked running once each at the batch's end. */
type BatchPipelines = Set<number>;

/**
 * The claim, its pipeline's status and how it is handed out, in one commit (in a batch, the
 * pipeline is marked with the others at its end); the build as claimed, or undefined when lost.
 */
async function claimOne(db: Db, clock: Clock, runner: RunnerRecord, build: BuildRecord, handout: Handout | undefined, batch: BatchPipelines | undefined): Promise<BuildRecord | undefined> {
  const now = clock.now().toISOString();
  const claimed = await inOneCommit(db, async (trx) => {
    if (!(await claimBuild(trx, build.id, runner.id, now, handout))) return false;
    if (batch) batch.add(build.pipelineId);
    else await markPipelineRunning(trx, build.pipelineId, now);
    return true;
  });
  return claimed ? asClaimed(build, runner, now, handout) : undefined;
}

/** The build as its claim at `now` left it. */
function asClaimed(build: BuildRecord, runner: RunnerRecord, now: string, handout: Handout | undefined): BuildRecord {
  return {
    ...build,
    status: 'running',
    runnerId: runner.id,
    startedAt: now,
    updatedAt: now,
    ...(handout ? { runnerApi: handout.api, cancelGracefully: handout.cancelGracefully } : {}),
  };
}

/** `work` in the claim's transaction (PostgreSQL's ClaimStrategy runs in one), or in a transaction of its own. */
function inOneCommit<T>(scope: Db, work: (trx: Db) => Promise<T>): Promise<T> {
  return scope.isTransaction ? work(scope) : scope.transaction((trx) => work(trx));
}

/** The runner's queue in its order, read `batchSize` candidates at a time, never loaded whole. */
async function* candidatesFor(db: Db, runner: RunnerRecord, filter: PickFilter, batchSize: number): AsyncGenerator<BuildRecord> {
  if (runner.isShared) {
    for (const project of await sharedQueueProjects(db, filter)) {
      let fromId = project.firstId;
      for (;;) {
        const batch = await projectCandidates(db, project.projectId, filter, fromId, batchSize);
        yield* batch;
        const last = batch[batch.length - 1];
        if (!last || batch.length < batchSize) break;
        fromId = last.id + 1;
      }
    }
    return;
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
