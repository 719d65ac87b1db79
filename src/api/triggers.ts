import type { Context as OpenApiContext } from 'openapi-backend';
import type { components } from '../generated/api.js';
import {
  authenticateTrigger,
  createTriggeredPipeline,
  TriggerRequestRefused,
  triggerVariables,
  type TriggerDenial,
} from '../domain/triggers.js';
import { newToken } from '../domain/tokens.js';
import { HttpError, notFound } from '../http/errors.js';
import { pathInteger, type AppDeps, type Handler, type JsonBody, type OperationHandlers } from '../http/handlers.js';
import { sendJson, sendNoContent } from '../http/respond.js';
import type { PipelineRecord, PipelineVariable } from '../store/pipelines.js';
import { deleteTrigger, insertTrigger, listTriggers } from '../store/triggers.js';
import { refusingInvalidConfig } from './pipelineCreationErrors.js';
import { requireLiveProject } from './projectAccess.js';
import { presentPipeline, presentTrigger, presentTriggerRequest } from './presenters.js';

/** A trigger request as both trigger endpoints take it (JSON or form), the ref already known. */
interface TriggerCall {
  token: string;
  ref: string;
  variables: unknown;
}

/**
 * How an endpoint words "no pipeline was made": GitLab 8.15's E10 said `No builds created`,
 * GitLab 9's `trigger/pipeline` `No pipeline created`; the reason goes in `errors`.
 */
type RefusalMessage = 'No builds created' | 'No pipeline created';

export function triggerHandlers({ db, clock }: AppDeps): OperationHandlers {
  /**
   * GitLab 8.15's order: project and trigger (404 unless both exist), the trigger's project
   * (401), the variables (400), then the pipeline (400 when none could be made).
   */
  const trigger = async (c: OpenApiContext, call: TriggerCall, refusal: RefusalMessage): Promise<{ pipeline: PipelineRecord; variables: PipelineVariable[] }> => {
    const project = await requireLiveProject(db, c);
    const access = await authenticateTrigger(db, project, call.token);
    if (!access.granted) throw denialError(access.denial);
    try {
      const variables = triggerVariables(call.variables);
      const pipeline = await refusingInvalidConfig(refusal, () =>
        createTriggeredPipeline(db, clock, project, { trigger: access.trigger, ref: call.ref, variables }),
      );
      return { pipeline, variables };
    } catch (err) {
      if (err instanceof TriggerRequestRefused) throw new HttpError(400, err.message);
      throw err;
    }
  };

  /** POST /ci/api/v1/projects/:id/refs/:ref/trigger(.json): 201 with GitLab 8.15's trigger request. */
  const triggerBuildsLegacy: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'triggerBuildsLegacy'>;
    const { pipeline, variables } = await trigger(c, { token: body.token, ref: String(c.request.params.ref), variables: body.variables }, 'No builds created');
    // As stored by GitLab: the hash that was given, or null when none was.
    const given = body.variables === undefined || body.variables === null ? null : Object.fromEntries(variables.map((v) => [v.key, v.value]));
    sendJson(ctx, 201, presentTriggerRequest(pipeline, given));
  };

  return {
    async listTriggers(c, ctx) {
      const project = await requireLiveProject(db, c);
      sendJson(ctx, 200, (await listTriggers(db, project.id)).map((listed) => presentTrigger(listed)));
    },

    async createTrigger(c, ctx) {
      const project = await requireLiveProject(db, c);
      const body = (c.request.requestBody ?? {}) as components['schemas']['NewTrigger'];
      const token = newToken();
      const created = await insertTrigger(db, { projectId: project.id, description: body.description ?? null, createdAt: clock.now().toISOString() }, token);
      // The one time the whole token is shown: only its digest and first characters are kept.
      sendJson(ctx, 201, presentTrigger(created, token));
    },

    async deleteTrigger(c, ctx) {
      const project = await requireLiveProject(db, c);
      if (!(await deleteTrigger(db, project.id, pathInteger(c, 'trigger_id')))) throw notFound();
      sendNoContent(ctx);
    },

    /** POST /api/v4/projects/:id/trigger/pipeline: authenticated by the trigger token alone. */
    async triggerPipeline(c, ctx) {
      const body = c.request.requestBody as JsonBody<'triggerPipeline'>;
      const { pipeline } = await trigger(c, { token: body.token, ref: body.ref, variables: body.variables }, 'No pipeline created');
      sendJson(ctx, 201, presentPipeline(pipeline));
    },

    triggerBuildsLegacy,
    triggerBuildsLegacyJson: triggerBuildsLegacy,
  };
}

function denialError(denial: TriggerDenial): HttpError {
  switch (denial) {
    case 'unknown-token':
      return notFound();
    case 'other-project':
      return new HttpError(401, '401 Unauthorized');
  }
}
