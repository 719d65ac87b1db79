import { cancelPipeline, retryPipeline } from '../domain/buildActions.js';
import { createPipeline } from '../domain/pipelineCreation.js';
import type { AppDeps, JsonBody, OperationHandlers } from '../http/handlers.js';
import { pageRequest, setPaginationHeaders } from '../http/pagination.js';
import { sendJson } from '../http/respond.js';
import { listProjectPipelines } from '../store/listings.js';
import type { PipelineStatus } from '../store/pipelines.js';
import { refusingInvalidConfig } from './pipelineCreationErrors.js';
import { actionRefusal } from './jobActions.js';
import { presentPipeline } from './presenters.js';
import { requireLiveProject, requireProjectPipeline } from './projectAccess.js';

export function pipelineHandlers({ db, clock }: AppDeps): OperationHandlers {
  return {
    async createPipeline(c, ctx) {
      const project = await requireLiveProject(db, c);
      const body = c.request.requestBody as JsonBody<'createPipeline'>;
      const pipeline = await refusingInvalidConfig('400 (Bad request) "ci_config" is invalid', () =>
        createPipeline(db, clock, project, {
          ref: body.ref,
          sha: body.sha,
          beforeSha: body.before_sha,
          tag: body.tag,
          ciConfig: body.ci_config,
          variables: body.variables,
        }),
      );
      sendJson(ctx, 201, presentPipeline(pipeline));
    },

    async getPipeline(c, ctx) {
      sendJson(ctx, 200, presentPipeline(await requireProjectPipeline(db, c)));
    },

    /** Newest first, one page at a time, optionally only one `status` or `ref`. */
    async listPipelines(c, ctx) {
      const project = await requireLiveProject(db, c);
      const page = pageRequest(c);
      const { status, ref } = c.request.query;
      const listing = await listProjectPipelines(
        db,
        project.id,
        {
          ...(typeof status === 'string' ? { status: status as PipelineStatus } : {}),
          ...(typeof ref === 'string' ? { ref } : {}),
        },
        page,
      );
      setPaginationHeaders(ctx, page, listing.total);
      sendJson(ctx, 200, listing.items.map(presentPipeline));
    },

    async cancelPipeline(c, ctx) {
      const pipeline = await cancelPipeline(db, clock, await requireProjectPipeline(db, c)).catch(actionRefusal);
      sendJson(ctx, 200, presentPipeline(pipeline));
    },

    async retryPipeline(c, ctx) {
      const pipeline = await retryPipeline(db, clock, await requireProjectPipeline(db, c)).catch(actionRefusal);
      sendJson(ctx, 201, presentPipeline(pipeline));
    },
  };
}
