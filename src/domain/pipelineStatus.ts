import type { BuildStatus, JobWhen } from '../store/builds.js';
import type { PipelineStatus } from '../store/pipelines.js';

export interface StatusInput {
  id: number;
  name: string;
  status: BuildStatus;
  allowFailure: boolean;
}

/** A retried job leaves its old builds behind; only the newest build of each name counts. */
export function latestPerName<T extends StatusInput>(builds: T[]): T[] {
  const newest = new Map<string, T>();
  for (const build of builds) {
    const seen = newest.get(build.name);
    if (!seen || build.id > seen.id) newest.set(build.name, build);
  }
  return [...newest.values()].sort((a, b) => a.id - b.id);
}

/**
 * GitLab 8.15's composite status (HasStatus.status_sql), applied to the latest build
 * of each name. A failed build that may fail counts as a success. `undefined` for
 * no builds at all.
 */
export function compositeStatus(builds: StatusInput[]): PipelineStatus | undefined {
  const latest = latestPerName(builds);
  if (latest.length === 0) return undefined;
  const count = (predicate: (b: StatusInput) => boolean) => latest.filter(predicate).length;
  const total = latest.length;
  const skipped = count((b) => b.status === 'skipped');
  const created = count((b) => b.status === 'created');
  const pending = count((b) => b.status === 'pending');
  // A job canceling gracefully is still running on its runner (after_script).
  const running = count((b) => b.status === 'running' || b.status === 'canceling');
  const canceled = count((b) => b.status === 'canceled');
  const succeeded = count((b) => b.status === 'success' || (b.status === 'failed' && b.allowFailure));
  if (total === skipped) return 'skipped';
  if (total === succeeded + skipped) return 'success';
  if (total === created + skipped) return 'created';
  if (total === succeeded + skipped + canceled) return 'canceled';
  if (total === created + skipped + pending) return 'pending';
  if (running + pending + created > 0) return 'running';
  return 'failed';
}

const COMPLETED: ReadonlySet<PipelineStatus> = new Set(['success', 'failed', 'canceled', 'skipped']);

/**
 * What a `created` build becomes once every earlier stage is complete, or `undefined`
 * while it must keep waiting. Manual jobs are skipped and wait to be played, as in
 * GitLab 8.x. Unlike 8.x, earlier stages that were all skipped (only manual jobs)
 * count as success, so a pipeline does not stall behind an unplayed manual job;
 * GitLab 9 made the same change.
 */
export function nextStatusForCreated(when: JobWhen, priorStages: PipelineStatus | undefined): 'pending' | 'skipped' | undefined {
  const prior = priorStages === undefined || priorStages === 'skipped' ? 'success' : priorStages;
  if (!COMPLETED.has(prior)) return undefined;
  const runsAfter: Record<JobWhen, PipelineStatus[]> = {
    on_success: ['success'],
    on_failure: ['failed'],
    always: ['success', 'failed'],
    manual: [],
  };
  return runsAfter[when].includes(prior) ? 'pending' : 'skipped';
}
