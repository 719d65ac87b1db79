import type { Context as OpenApiContext } from 'openapi-backend';
import { createProjectVariable, VariableKeyTaken } from '../domain/variables.js';
import { HttpError, notFound } from '../http/errors.js';
import type { AppDeps, JsonBody, OperationHandlers } from '../http/handlers.js';
import { sendJson, sendNoContent } from '../http/respond.js';
import { deleteProjectVariable, findProjectVariable, listProjectVariables, updateProjectVariable } from '../store/variables.js';
import { requireLiveProject } from './projectAccess.js';
import { presentVariable } from './presenters.js';

/** A project's secret variables. Keys are checked against `[A-Za-z0-9_]+` by openapi.yaml. */
export function variableHandlers({ db }: AppDeps): OperationHandlers {
  const keyOf = (c: OpenApiContext): string => String(c.request.params.key);

  return {
    async listProjectVariables(c, ctx) {
      const project = await requireLiveProject(db, c);
      sendJson(ctx, 200, (await listProjectVariables(db, project.id)).map(presentVariable));
    },

    async createProjectVariable(c, ctx) {
      const project = await requireLiveProject(db, c);
      const body = c.request.requestBody as JsonBody<'createProjectVariable'>;
      try {
        sendJson(ctx, 201, presentVariable(await createProjectVariable(db, project.id, { key: body.key, value: body.value })));
      } catch (err) {
        if (err instanceof VariableKeyTaken) throw new HttpError(400, `400 Bad request - ${err.message}`);
        throw err;
      }
    },

    async getProjectVariable(c, ctx) {
      const project = await requireLiveProject(db, c);
      const variable = await findProjectVariable(db, project.id, keyOf(c));
      if (!variable) throw notFound();
      sendJson(ctx, 200, presentVariable(variable));
    },

    async updateProjectVariable(c, ctx) {
      const project = await requireLiveProject(db, c);
      const body = c.request.requestBody as JsonBody<'updateProjectVariable'>;
      const variable = await updateProjectVariable(db, project.id, keyOf(c), body.value);
      if (!variable) throw notFound();
      sendJson(ctx, 200, presentVariable(variable));
    },

    async deleteProjectVariable(c, ctx) {
      const project = await requireLiveProject(db, c);
      if (!(await deleteProjectVariable(db, project.id, keyOf(c)))) throw notFound();
      sendNoContent(ctx);
    },
  };
}
