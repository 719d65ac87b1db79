import { createPipeline, InvalidPipelineConfig } from '../domain/pipelineCreation.js';
import { HttpError, notFound } from '../http/errors.js';
import { pathInteger, type AppDeps, type JsonBody, type OperationHandlers } from '../http/handlers.js';
import { sendJson } from '../http/respond.js';
import { findPipelineInProject } from '../store/pipelines.js';
import { findLiveProject } from '../store/projects.js';
import { presentPipeline } from './presenters.js';

export function pipelineHandlers({ db, clock }: AppDeps): OperationHandlers {
  return {
    async createPipeline(c, ctx) {
      const project = await findLiveProject(db, pathInteger(c, 'id'));
      if (!project) throw notFound();
      const body = c.request.requestBody as JsonBody<'createPipeline'>;
      try {
        const pipeline = await createPipeline(db, clock, project, {
          ref: body.ref,
          sha: body.sha,
          beforeSha: body.before_sha,
          tag: body.tag,
          ciConfig: body.ci_config,
          variables: body.variables,
        });
        sendJson(ctx, 201, presentPipeline(pipeline));
      } catch (err) {
        if (err instanceof InvalidPipelineConfig) {
          throw new HttpError(400, '400 (Bad request) "ci_config" is invalid', {}, { errors: err.errors });
        }
        throw err;
      }
    },

    async getPipeline(c, ctx) {
      const project = await findLiveProject(db, pathInteger(c, 'id'));
      const pipeline = project && (await findPipelineInProject(db, project.id, pathInteger(c, 'pipeline_id')));
      if (!pipeline) throw notFound();
      sendJson(ctx, 200, presentPipeline(pipeline));
    },
  };
}
