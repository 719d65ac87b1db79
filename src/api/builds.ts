import { finalStateFrom, finishBuild } from '../domain/buildQueue.js';
import { requestBuild } from '../domain/buildRequest.js';
import { clientGoneSignal } from '../http/clientGone.js';
import { presentBuildDetails } from '../domain/buildPayload.js';
import { recordRunnerContact } from '../domain/runnerContact.js';
import { replaceTrace } from '../domain/traces.js';
import { forbidden, HttpError, notFound } from '../http/errors.js';
import { pathInteger, type AppDeps, type Handler, type JsonBody, type OperationHandlers } from '../http/handlers.js';
import { annotateRequest } from '../http/requestContext.js';
import { sendJson, sendNoContent } from '../http/respond.js';
import { findBuild } from '../store/builds.js';
import { findLiveProject } from '../store/projects.js';
import { authenticateRunner } from './runnerAuth.js';

/**
 * Runners that understand 204 for "no build" (GitLab 8.12+'s test). Unanchored, and the
 * trailing space is part of it: `gitlab-ci-multi-runner 1.5.2` alone does not match.
 */
const RUNNER_USER_AGENT = /gitlab-ci-multi-runner \d+\.\d+\.\d+(~beta\.\d+\.g[0-9a-f]+)? /;

/** The runner's queue version when it got no build; it sends it back as `last_update` (GitLab 9+). */
export const LAST_UPDATE_HEADER = 'X-GitLab-Last-Update';

/** GitLab's wording when a record lookup fails (lower-case "found"), which PUT answers. */
const buildNotFound = () => new HttpError(404, '404 Not found');

export function buildHandlers(deps: AppDeps): OperationHandlers {
  const { db, clock, metrics, buildSignals, config, runnerQueues, runnerContacts, tokens } = deps;
  const register: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'registerBuild'>;
    const gone = clientGoneSignal(ctx);
    // The runner as this process knows it (src/domain/longPolls.ts): no database read while
    // nothing about it changed, and an announced change is seen at once.
    const entry = await runnerQueues.lookup(body.token, 'v1');
    if (!entry) {
      metrics.buildRequest('v1', 'forbidden');
      throw forbidden();
    }
    const { runner } = entry.polling;
    annotateRequest(c, { runnerId: runner.id });
    if (!runner.active) {
      metrics.buildRequest('v1', 'paused');
      throw notFound();
    }
    await runnerContacts.record(runner, body.info);
    const outcome = await requestBuild(deps, entry, {
      api: 'v1',
      holdMs: config.longPollMs,
      gone,
      lastUpdate: body.last_update,
      reload: () => runnerQueues.lookup(body.token, 'v1'),
    });
    switch (outcome.kind) {
      case 'build': {
        const { build } = outcome;
        metrics.buildRequest('v1', 'build');
        metrics.buildClaimed('v1', outcome.claimSeconds, build.queuedAt, clock.now());
        annotateRequest(c, { buildId: build.id });
        sendJson(ctx, 201, presentBuildDetails(outcome.context, clock.now()));
        return;
      }
      case 'deleted':
        metrics.buildRequest('v1', 'forbidden');
        throw forbidden();
      case 'paused':
        metrics.buildRequest('v1', 'paused');
        throw notFound();
      case 'none':
        ctx.set(LAST_UPDATE_HEADER, outcome.version);
        break;
      case 'gone':
        break;
    }
    metrics.buildRequest('v1', 'none');
    if (RUNNER_USER_AGENT.test(ctx.get('User-Agent'))) {
      sendNoContent(ctx);
      return;
    }
    throw notFound();
  };

  const update: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'updateBuild'>;
    const runner = await authenticateRunner(c, db, body.token, 'v1');
    // Only a build running on this runner: anything else (including `PUT builds/-1`, the
    // runner's token check, and a build canceled under it) answers 404.
    const build = await findBuild(db, pathInteger(c, 'id'));
    annotateRequest(c, { buildId: pathInteger(c, 'id') });
    if (!build || build.runnerId !== runner.id || build.status !== 'running') throw buildNotFound();
    const project = await findLiveProject(db, build.projectId);
    if (!project) throw forbidden('Project has been deleted!');
    if (build.erasedAt !== null) throw forbidden('Build has been erased!');
    await recordRunnerContact(db, clock, runner, body.info);
    if (body.trace !== undefined) await replaceTrace(db, build, project, body.trace, tokens);
    const state = finalStateFrom(body.state);
    // GitLab answered with the state event's result, and null when no state was asked for.
    const finished = state ? await finishBuild(db, clock, build, state) : null;
    buildSignals.changed(build.id);
    sendJson(ctx, 200, finished);
  };

  return {
    registerBuild: register,
    registerBuildJson: register,
    updateBuild: update,
    updateBuildJson: update,
  };
}
