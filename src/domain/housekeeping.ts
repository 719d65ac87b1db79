/**
 * What GitLab's cron workers did (ExpireBuildArtifactsWorker, StuckCiBuildsWorker), scheduled by
 * each server process and run once per interval by one of them (runScheduledHousekeeping).
 * Any number of processes may still run a pass at the same time (runOnce, a slow pass): every change is claimed by a conditional UPDATE (src/store/housekeeping.ts),
 * so each expired archive is removed and each stuck build failed by exactly one of them.
 */
import { findBuild } from '../store/builds.js';
import type { Db } from '../store/db.js';
import {
  failStuckBuild,
  listExpiredArtifacts,
  listStuckBuilds,
  type StuckBuild,
} from '../store/housekeeping.js';
import { findLiveProject } from '../store/projects.js';
import { claimPeriodicSlot } from '../store/periodicRuns.js';
import { removeArtifacts } from './artifacts.js';
import type { Clock } from './clock.js';
import type { InstanceTokens } from './instanceTokens.js';
import { processPipeline } from './pipelineProcessing.js';
import { appendTrace } from './traces.js';

/** Rows read per query: a pass works through any backlog in windows, never loading it whole. */
const BATCH = 100;

/** A trace append can lose the offset race to a runner's PATCH; it is retried at the new length this often. */
const TRACE_APPEND_ATTEMPTS = 5;

/** What this process did in one pass (another process may have done the rest). */
export interface HousekeepingReport {
  expiredArtifacts: number;
  stuckBuilds: number;
}

export interface HousekeepingDeps {
  db: Db;
  clock: Clock;
  /** The stuck-build line goes through the trace masker, which needs the instance's tokens. */
  tokens: InstanceTokens;
  dataDir: string;
  stuckBuildTimeoutMs: number;
}

/** One pass: expired archives first, then stuck builds. */
export async function runHousekeeping(deps: HousekeepingDeps): Promise<HousekeepingReport> {
  const expiredArtifacts = await removeExpiredArtifacts(deps.db, deps.clock, deps.dataDir);
  const stuckBuilds = await failStuckBuilds(deps.db, deps.clock, deps.stuckBuildTimeoutMs, deps.tokens);
  return { expiredArtifacts, stuckBuilds };
}

/**
 * Removes every archive whose expiry has passed: the row forgets it first, then the file
 * goes, and only in the process whose UPDATE cleared the row. The UPDATE is conditional on
 * the file key listed, so an archive re-uploaded meanwhile (a new key, a new file) stays.
 * Payloads stopped showing the archive at its expiry already (hasArtifacts); this
 * reclaims the disk.
 */
export async function removeExpiredArtifacts(db: Db, clock: Clock, dataDir: string): Promise<number> {
  const now = clock.now().toISOString();
  let removed = 0;
  let afterId = 0;
  for (;;) {
    const batch = await listExpiredArtifacts(db, now, afterId, BATCH);
    for (const expired of batch) {
      if (await removeArtifacts(db, dataDir, expired.buildId, expired.fileKey)) removed++;
    }
    const last = batch[batch.length - 1];
    if (!last || batch.length < BATCH) return removed;
    afterId = last.id;
  }
}

/**
 * Fails every pending or running build not updated for `timeoutMs` (GitLab 8.15: one day),
 * says why at the end of its trace, and advances its pipeline.
 */
export async function failStuckBuilds(db: Db, clock: Clock, timeoutMs: number, tokens: InstanceTokens): Promise<number> {
  const cutoff = new Date(clock.now().getTime() - timeoutMs).toISOString();
  let failed = 0;
  let afterId = 0;
  for (;;) {
    const batch = await listStuckBuilds(db, cutoff, afterId, BATCH);
    for (const stuck of batch) {
      if (await failOneStuckBuild(db, clock, stuck, cutoff, stuckReason(stuck, timeoutMs), tokens)) {
        await processPipeline(db, stuck.pipelineId, clock);
        failed++;
      }
    }
    const last = batch[batch.length - 1];
    if (!last || batch.length < BATCH) return failed;
    afterId = last.id;
  }
}

/**
 * The status change and the trace line in one transaction, so a build is never failed
 * without saying why. The conditional UPDATE comes first: it is the claim, and it takes
 * the write lock before anything is read. The line goes through appendTrace, the path
 * PATCH trace.txt uses, so the stored length and every later offset stay right.
 */
async function failOneStuckBuild(db: Db, clock: Clock, stuck: StuckBuild, cutoff: string, reason: string, tokens: InstanceTokens): Promise<boolean> {
  return db.transaction(async (trx) => {
    const now = clock.now().toISOString();
    if (!(await failStuckBuild(trx, stuck, cutoff, now))) return false;
    const line = Buffer.from(reason, 'utf8');
    for (let attempt = 0; attempt < TRACE_APPEND_ATTEMPTS; attempt++) {
      const build = await findBuild(trx, stuck.id);
      const project = build && (await findLiveProject(trx, build.projectId));
      if (!build || !project) return true;
      const appended = await appendTrace(trx, clock, build, project, build.traceLength, line, tokens);
      if (appended.accepted) return true;
    }
    throw new Error(`build ${stuck.id}: the trace kept growing while the stuck-build line was appended`);
  });
}

function stuckReason(stuck: Pick<StuckBuild, 'status'>, timeoutMs: number): string {
  const hours = timeoutMs / (60 * 60 * 1000);
  return `\nThis build was marked failed: stuck in ${stuck.status} for more than ${hours} ${hours === 1 ? 'hour' : 'hours'}.\n`;
}

/** The name housekeeping's intervals are claimed under (src/store/periodicRuns.ts). */
const HOUSEKEEPING_TASK = 'housekeeping';

/**
 * The scheduled pass. Every server process runs a schedule, but housekeeping runs once per
 * interval, not once per process: clock time is cut into windows of `intervalMs`, and only the
 * first process to reach a window runs its pass; the others skip it (undefined). One process
 * alone never skips: its passes are at least an interval apart, so each falls in a new window.
 */
export async function runScheduledHousekeeping(deps: HousekeepingDeps, intervalMs: number): Promise<HousekeepingReport | undefined> {
  const slot = Math.floor(deps.clock.now().getTime() / intervalMs);
  if (!(await claimPeriodicSlot(deps.db, HOUSEKEEPING_TASK, slot))) return undefined;
  return runHousekeeping(deps);
}

/**
 * Runs passes every `intervalMs` until stopped; a pass never overlaps the previous one. A pass
 * answers undefined when it was skipped (another process ran this interval's).
 */
export class HousekeepingSchedule {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  /** Passes this schedule ran (not skipped), failed ones included. */
  passesRun = 0;

  constructor(
    private readonly pass: () => Promise<HousekeepingReport | undefined>,
    private readonly intervalMs: number,
    private readonly log: (line: string) => void,
  ) {}

  /** Does nothing for an interval of 0 (housekeeping disabled in this process). */
  start(): void {
    if (this.intervalMs > 0) this.scheduleNext();
  }

  /** Stops the timer and waits for a pass in progress, so the database can be closed after. */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
  }

  private scheduleNext(): void {
    if (this.stopped) return;
    // unref: a pending pass must not keep the process alive on shutdown.
    this.timer = setTimeout(() => {
      this.running = this.runLogged().finally(() => {
        this.running = undefined;
        this.scheduleNext();
      });
    }, this.intervalMs).unref();
  }

  private async runLogged(): Promise<void> {
    try {
      const report = await this.pass();
      if (!report) return;
      this.passesRun++;
      if (report.expiredArtifacts > 0 || report.stuckBuilds > 0) {
        this.log(`housekeeping: removed ${report.expiredArtifacts} expired artifacts, failed ${report.stuckBuilds} stuck builds`);
      }
    } catch (err) {
      this.passesRun++;
      // The next pass retries whatever this one did not finish.
      this.log(`error: housekeeping: ${err instanceof Error ? err.stack : String(err)}`);
    }
  }
}
