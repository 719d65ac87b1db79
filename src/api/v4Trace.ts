import type { AppDeps, OperationHandlers } from '../http/handlers.js';
import { sendText } from '../http/respond.js';
import { requireUpdatableJob, setJobStatus, traceUpdateInterval } from './jobAccess.js';
import { appendTraceChunk } from './traceChunk.js';

export function v4TraceHandlers(deps: AppDeps): OperationHandlers {
  return {
    /**
     * PATCH /api/v4/jobs/:id/trace (GitLab's AppendBuildTraceService): unlike v1, only a job
     * that takes updates (running or canceling); then v1's atomic, append-only, masked storage.
     */
    async appendJobTrace(c, ctx) {
      const { build, project } = await requireUpdatableJob(deps.db, c);
      // Asked before the append, which wakes (and so, for a moment, unregisters) the followers.
      const watched = deps.buildSignals.isWatched(build.id);
      const { range, status } = await appendTraceChunk(deps, c, ctx, build, project);
      setJobStatus(ctx, status);
      ctx.set('Range', range);
      ctx.set('X-GitLab-Trace-Update-Interval', String(traceUpdateInterval(watched, status)));
      sendText(ctx, 202, range);
    },
  };
}
