/**
 * What a v4 runner's `PUT /api/v4/jobs/:id` does (GitLab's UpdateBuildStateService):
 * `running` is a keep-alive; `success` and `failed` finish the job once the log the runner
 * says it sent (`output.checksum`, `output.bytesize`) is the one stored. A job being
 * canceled gracefully ends `canceled`, whatever the runner reports.
 */
import { crc32 } from 'node:zlib';
import { findBuild, transitionBuild, type BuildRecord, type BuildStatus } from '../store/builds.js';
import type { Db } from '../store/db.js';
import { finalUpdatePendingSince, touchRunningBuild } from '../store/jobStates.js';
import { readTraceChunks } from '../store/traces.js';
import type { Clock } from './clock.js';
import { processPipeline } from './pipelineProcessing.js';

/**
 * The failure reasons we store as sent; anything else becomes `unknown_failure`, as in
 * GitLab. It is also the job's `features.failure_reasons`: GitLab's reasons that can happen
 * here, plus `image_pull_failure` and `job_canceled`, which the runner reports as they are
 * only when listed (else as `runner_system_failure` and `unknown_failure`).
 */
export const FAILURE_REASONS = [
  'unknown_failure',
  'script_failure',
  'api_failure',
  'stuck_or_timeout_failure',
  'runner_system_failure',
  'missing_dependency_failure',
  'runner_unsupported',
  'job_execution_timeout',
  'archived_failure',
  'unmet_prerequisites',
  'scheduler_failure',
  'data_integrity_failure',
  'image_pull_failure',
  'job_canceled',
] as const;

/** The states that take a v4 update (17.x GitLab: running, or canceling with graceful cancel). */
export const UPDATABLE: BuildStatus[] = ['running', 'canceling'];

/**
 * How long a final update waits for the stored log to match its output before it is
 * accepted anyway (GitLab's ACCEPT_TIMEOUT). Appends are durable when answered, so a
 * mismatch means a patch still in flight, or one that never comes.
 */
export const FINAL_UPDATE_ACCEPT_TIMEOUT_MS = 5 * 60 * 1000;

/** The longest retry interval a 202 asks for. */
const MAX_RETRY_SECONDS = 60;

export interface JobStateUpdate {
  state: 'running' | 'success' | 'failed';
  failureReason?: string | undefined;
  exitCode?: number | undefined;
  /** `crc32:<hex>` of the whole log, as the runner computed it. */
  checksum?: string | undefined;
  bytesize?: number | undefined;
}

export type JobUpdateOutcome =
  /** 200: `status` is the job's status now. */
  | { kind: 'done'; status: BuildStatus }
  /** 202: the log does not match yet; try again in `retryInSeconds`. */
  | { kind: 'wait'; status: BuildStatus; retryInSeconds: number }
  /** 403: the job stopped taking updates meanwhile (a user canceled it). */
  | { kind: 'refused'; status: BuildStatus };

export async function updateJobState(db: Db, clock: Clock, build: BuildRecord, update: JobStateUpdate): Promise<JobUpdateOutcome> {
  const now = clock.now();
  if (update.state === 'running') {
    await touchRunningBuild(db, build.id, UPDATABLE, now.toISOString());
    return { kind: 'done', status: build.status };
  }
  if (!(await logMatches(db, build.id, update))) {
    const since = await finalUpdatePendingSince(db, build.id, now.toISOString());
    const waited = now.getTime() - Date.parse(since);
    if (waited < FINAL_UPDATE_ACCEPT_TIMEOUT_MS) return { kind: 'wait', status: build.status, retryInSeconds: retryInterval(waited) };
  }
  const changes = {
    finished_at: now.toISOString(),
    updated_at: now.toISOString(),
    failure_reason: update.state === 'failed' ? failureReasonOf(update.failureReason) : null,
    exit_code: update.exitCode ?? null,
    final_update_pending_since: null,
  };
  // A job canceled gracefully meanwhile (running → canceling) still ends, as canceled.
  let to: BuildStatus = update.state;
  let finished = build.status === 'running' && (await transitionBuild(db, build.id, ['running'], to, changes));
  if (!finished) {
    to = 'canceled';
    finished = await transitionBuild(db, build.id, ['canceling'], to, changes);
  }
  if (!finished) return { kind: 'refused', status: (await findBuild(db, build.id))?.status ?? build.status };
  await processPipeline(db, build.pipelineId, clock);
  return { kind: 'done', status: to };
}

export function failureReasonOf(reason: string | undefined): string {
  return reason !== undefined && (FAILURE_REASONS as readonly string[]).includes(reason) ? reason : 'unknown_failure';
}

/** An update that names no checksum and no size is not checked (older runners, GitLab too). */
async function logMatches(db: Db, buildId: number, update: JobStateUpdate): Promise<boolean> {
  if (update.checksum === undefined && update.bytesize === undefined) return true;
  const stored = await readTraceChunks(db, buildId);
  if (update.bytesize !== undefined && update.bytesize !== stored.length) return false;
  if (update.checksum === undefined) return true;
  return update.checksum.toLowerCase() === `crc32:${crc32(stored).toString(16).padStart(8, '0')}`;
}

/** 1 s, then doubling with the time waited, at most MAX_RETRY_SECONDS (GitLab's runner backoff). */
function retryInterval(waitedMs: number): number {
  const seconds = Math.max(1, waitedMs / 1000);
  return Math.min(MAX_RETRY_SECONDS, 2 ** Math.floor(Math.log2(seconds)));
}
