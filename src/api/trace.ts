import type { AppDeps, OperationHandlers } from '../http/handlers.js';
import { sendText } from '../http/respond.js';
import { requireBuildAccess } from './buildAccess.js';
import { appendTraceChunk } from './traceChunk.js';

export function traceHandlers(deps: AppDeps): OperationHandlers {
  return {
    /**
     * PATCH builds/:id/trace.txt (GitLab 8.15 order: build, token, project, erased,
     * Content-Range, range check). No status check: a canceled build still takes the
     * chunk, and Build-Status is how the runner learns it should stop.
     */
    async appendBuildTrace(c, ctx) {
      const { build, project } = await requireBuildAccess(deps.db, c);
      const { range, status } = await appendTraceChunk(deps, c, ctx, build, project);
      // v1 runners know only the hard cancel: a v4 job's `canceling` reads as `canceled` here.
      ctx.set('Build-Status', status === 'canceling' ? 'canceled' : status);
      ctx.set('Range', range);
      sendText(ctx, 202, range);
    },
  };
}
