/**
 * The runner API v4's runner endpoints (what gitlab-runner 15–18 calls to register,
 * verify and unregister): thin glue over the same registration as /ci/api/v1.
 */
import { registerRunner, verifyRunner } from '../domain/runnerRegistration.js';
import { badRequest, forbidden, HttpError, notFound } from '../http/errors.js';
import type { AppDeps, Handler, JsonBody, OperationHandlers } from '../http/handlers.js';
import { annotateRequest } from '../http/requestContext.js';
import { sendJson, sendNoContent } from '../http/respond.js';
import { deleteRunnerManager } from '../store/runnerManagers.js';
import { removeRunner } from '../domain/runnerAdmin.js';
import { presentRunnerAuthentication } from './presenters.js';
import { authenticateRunner } from './runnerAuth.js';

export const invalidRunner = (reason: string) => new HttpError(400, `400 Bad request - ${reason}`);

/** Two spellings of one setting (GitLab's deprecated one and its successor): only one may be given. */
function refuseBoth(body: Record<string, unknown>, deprecated: string, current: string): void {
  if (body[deprecated] !== undefined && body[current] !== undefined) throw invalidRunner(`${deprecated}, ${current} are mutually exclusive`);
}

export function runnerV4Handlers({ db, clock, tokens }: AppDeps): OperationHandlers {
  const register: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'registerRunnerV4'>;
    if (body.token.trim() === '') throw badRequest('token');
    refuseBoth(body, 'maintainer_note', 'maintenance_note');
    refuseBoth(body, 'active', 'paused');
    const outcome = await registerRunner(db, clock, tokens.registrationTokenDigest, {
      api: 'v4',
      token: body.token,
      description: body.description,
      tagList: body.tag_list,
      runUntagged: body.run_untagged,
      locked: body.locked,
      paused: body.paused ?? (body.active === undefined ? undefined : !body.active),
      accessLevel: body.access_level,
      maximumTimeout: body.maximum_timeout,
      maintenanceNote: body.maintenance_note ?? body.maintainer_note,
      info: body.info,
    });
    if (outcome.kind === 'unknown-token') throw forbidden();
    if (outcome.kind === 'invalid-runner') throw invalidRunner(outcome.reason);
    annotateRequest(c, { runnerId: outcome.runner.id });
    sendJson(ctx, 201, presentRunnerAuthentication({ id: outcome.runner.id, token: outcome.token }));
  };

  const verify: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'verifyRunnerV4'>;
    if (body.token.trim() === '') throw badRequest('token');
    const runner = await verifyRunner(db, clock, body.token, body.system_id || undefined);
    if (!runner) throw forbidden();
    annotateRequest(c, { runnerId: runner.id });
    // The caller's own token: we keep only its digest.
    sendJson(ctx, 200, presentRunnerAuthentication({ id: runner.id, token: body.token }));
  };

  const unregister: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'deleteRunnerV4'>;
    const runner = await authenticateRunner(c, db, body.token, 'v4');
    // Deleted meanwhile by a concurrent call: the token no longer names a runner.
    if (!(await removeRunner(db, runner.id))) throw forbidden();
    sendNoContent(ctx);
  };

  const unregisterManager: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'deleteRunnerManagerV4'>;
    if (body.system_id.trim() === '') throw badRequest('system_id');
    const runner = await authenticateRunner(c, db, body.token, 'v4');
    if (!(await deleteRunnerManager(db, runner.id, body.system_id))) throw notFound();
    sendNoContent(ctx);
  };

  return {
    registerRunnerV4: register,
    verifyRunnerV4: verify,
    deleteRunnerV4: unregister,
    deleteRunnerManagerV4: unregisterManager,
  };
}
