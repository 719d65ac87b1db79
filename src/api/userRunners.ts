/** The user API v4 around runners that GitLab 16 users expect: creating one with a `glrt-` token, and their own runners. */
import { createAuthenticatedRunner } from '../domain/runnerRegistration.js';
import { ownedRunnerFilterFor } from '../domain/ownedRunners.js';
import { badRequest, HttpError } from '../http/errors.js';
import type { AppDeps, JsonBody, OperationHandlers } from '../http/handlers.js';
import { pageRequest, setPaginationHeaders } from '../http/pagination.js';
import { annotateRequest } from '../http/requestContext.js';
import { sendJson } from '../http/respond.js';
import { countRunners, listRunners } from '../store/runners.js';
import { presentRunner, presentRunnerAuthentication } from './presenters.js';
import { invalidRunner } from './runnersV4.js';

type OwnedRunnersQuery = Parameters<typeof ownedRunnerFilterFor>[0];

export function userRunnerHandlers({ db, clock }: AppDeps): OperationHandlers {
  return {
    async createUserRunner(c, ctx) {
      const body = c.request.requestBody as JsonBody<'createUserRunner'>;
      if (body.runner_type === 'group_type') throw invalidRunner('group_type runners need a group, and there are no groups here');
      if (body.runner_type === 'project_type' && body.project_id === undefined) throw badRequest('project_id');
      if (body.runner_type === 'instance_type' && body.project_id !== undefined) throw invalidRunner('project_id is only for project_type runners');
      const outcome = await createAuthenticatedRunner(db, clock, {
        isShared: body.runner_type === 'instance_type',
        projectId: body.project_id,
        description: body.description,
        tagList: body.tag_list,
        runUntagged: body.run_untagged,
        locked: body.locked,
        paused: body.paused,
        accessLevel: body.access_level,
        maximumTimeout: body.maximum_timeout,
        maintenanceNote: body.maintenance_note,
      });
      if (outcome.kind === 'unknown-project') throw new HttpError(404, '404 Project Not Found');
      if (outcome.kind !== 'registered') throw invalidRunner(outcome.kind === 'invalid-runner' ? outcome.reason : 'invalid runner');
      annotateRequest(c, { runnerId: outcome.runner.id });
      // The one time the glrt- token is shown: only its digest is kept.
      sendJson(ctx, 201, presentRunnerAuthentication({ id: outcome.runner.id, token: outcome.token }));
    },

    async listOwnedRunners(c, ctx) {
      const now = clock.now();
      const filter = ownedRunnerFilterFor(c.request.query as OwnedRunnersQuery, now);
      const page = pageRequest(c);
      const [total, runners] = filter ? await Promise.all([countRunners(db, filter), listRunners(db, filter, page)]) : [0, []];
      setPaginationHeaders(ctx, page, total);
      sendJson(ctx, 200, runners.map((runner) => presentRunner(runner, now)));
    },
  };
}
