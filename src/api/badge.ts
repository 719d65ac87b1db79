import { pipelineBadgeSvg } from '../domain/badge.js';
import type { AppDeps, OperationHandlers } from '../http/handlers.js';
import { listProjectPipelines } from '../store/listings.js';
import { requireLiveProject } from './projectAccess.js';

export function badgeHandlers({ db }: AppDeps): OperationHandlers {
  return {
    /** The newest pipeline of `ref` (any ref without one), as GitLab's pipeline.svg draws it. */
    async getPipelineBadge(c, ctx) {
      const project = await requireLiveProject(db, c);
      const ref = c.request.query.ref;
      const newest = await listProjectPipelines(db, project.id, typeof ref === 'string' ? { ref } : {}, { limit: 1, offset: 0 });
      ctx.status = 200;
      ctx.body = pipelineBadgeSvg(newest.items[0]?.status ?? 'unknown');
      ctx.set('Content-Type', 'image/svg+xml');
      // As GitLab: a badge must change the moment the pipeline does, so nobody may keep it.
      ctx.set('Cache-Control', 'no-cache, no-store, must-revalidate, private, max-age=0');
    },
  };
}
