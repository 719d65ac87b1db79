import { appendTrace } from '../domain/traces.js';
import { HttpError } from '../http/errors.js';
import type { AppDeps, OperationHandlers } from '../http/handlers.js';
import { readRawBody } from '../http/rawBody.js';
import { sendText } from '../http/respond.js';
import { requireBuildAccess } from './buildAccess.js';

export function traceHandlers({ db, config, clock, metrics, buildSignals }: AppDeps): OperationHandlers {
  return {
    /**
     * PATCH builds/:id/trace.txt (GitLab 8.15 order: build, token, project, erased,
     * Content-Range, range check). No status check: a canceled build still takes the
     * chunk, and Build-Status is how the runner learns it should stop.
     */
    async appendBuildTrace(c, ctx) {
      const { build, project } = await requireBuildAccess(db, c);
      const contentRange = c.request.headers['content-range'];
      if (typeof contentRange !== 'string') throw new HttpError(400, '400 Missing header Content-Range');
      // The spec's pattern guarantees `<digits>-<digits>`; only the start counts (GitLab
      // ignored the end, and so does the runner's own keep-alive `N-N`).
      const start = Number(contentRange.slice(0, contentRange.indexOf('-')));
      const chunk = await readRawBody(ctx, config.maxBodyBytes);
      const result = await appendTrace(db, clock, build, project, start, chunk);
      const range = `0-${result.length}`;
      if (!result.accepted) throw new HttpError(416, '416 Range Not Satisfiable', { Range: range });
      metrics.traceAppended(result.appended);
      if (result.appended > 0) buildSignals.changed(build.id);
      ctx.set('Build-Status', result.status);
      ctx.set('Range', range);
      sendText(ctx, 202, range);
    },
  };
}
