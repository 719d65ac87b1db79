import {
  assignRunnerToProject,
  removeRunner,
  runnerFilterFor,
  unassignRunnerFromProject,
  updateRunner,
  type RunnerScope,
} from '../domain/runnerAdmin.js';
import { HttpError, notFound } from '../http/errors.js';
import { pageRequest, setPaginationHeaders } from '../http/pagination.js';
import { pathInteger, type AppDeps, type JsonBody, type OperationHandlers } from '../http/handlers.js';
import { sendJson, sendNoContent } from '../http/respond.js';
import { countRunners, findRunner, listRunnerProjects, listRunners } from '../store/runners.js';
import { presentRunner, presentRunnerDetails } from './presenters.js';
import { requireLiveProject } from './projectAccess.js';

const refused = (reason: string) => new HttpError(400, `400 Bad request - ${reason}`);

export function runnerAdminHandlers({ db, clock }: AppDeps): OperationHandlers {
  return {
    async listAllRunners(c, ctx) {
      const query = c.request.query as { scope?: RunnerScope; tag_list?: string };
      const now = clock.now();
      const filter = runnerFilterFor({ scope: query.scope, tagList: query.tag_list }, now);
      const page = pageRequest(c);
      const [total, runners] = await Promise.all([countRunners(db, filter), listRunners(db, filter, page)]);
      setPaginationHeaders(ctx, page, total);
      sendJson(ctx, 200, runners.map((runner) => presentRunner(runner, now)));
    },

    async getRunner(c, ctx) {
      const runner = await findRunner(db, pathInteger(c, 'runner_id'));
      if (!runner) throw notFound();
      sendJson(ctx, 200, presentRunnerDetails(runner, await listRunnerProjects(db, runner.id), clock.now()));
    },

    async updateRunner(c, ctx) {
      const body = c.request.requestBody as JsonBody<'updateRunner'>;
      const outcome = await updateRunner(db, pathInteger(c, 'runner_id'), body);
      if (outcome.kind === 'unknown-runner') throw notFound();
      if (outcome.kind === 'invalid') throw refused(outcome.reason);
      sendJson(ctx, 200, presentRunnerDetails(outcome.runner, await listRunnerProjects(db, outcome.runner.id), clock.now()));
    },

    async deleteRunnerById(c, ctx) {
      if (!(await removeRunner(db, pathInteger(c, 'runner_id')))) throw notFound();
      sendNoContent(ctx);
    },

    async assignProjectRunner(c, ctx) {
      const body = c.request.requestBody as JsonBody<'assignProjectRunner'>;
      const project = await requireLiveProject(db, c);
      const outcome = await assignRunnerToProject(db, body.runner_id, project.id);
      if (outcome.kind === 'unknown-runner') throw notFound();
      if (outcome.kind === 'refused') throw refused(outcome.reason);
      sendJson(ctx, 201, presentRunner(outcome.runner, clock.now()));
    },

    async unassignProjectRunner(c, ctx) {
      const project = await requireLiveProject(db, c);
      const outcome = await unassignRunnerFromProject(db, pathInteger(c, 'runner_id'), project.id);
      if (outcome.kind === 'not-assigned') throw notFound();
      if (outcome.kind === 'refused') throw refused(outcome.reason);
      sendNoContent(ctx);
    },
  };
}
