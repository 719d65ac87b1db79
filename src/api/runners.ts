import { registerRunner } from '../domain/runnerRegistration.js';
import { badRequest, forbidden, notFound } from '../http/errors.js';
import type { AppDeps, Handler, JsonBody, OperationHandlers } from '../http/handlers.js';
import { sendJson } from '../http/respond.js';
import { removeRunner } from '../domain/runnerAdmin.js';
import { presentRegisteredRunner } from './presenters.js';
import { authenticateRunner } from './runnerAuth.js';

export function runnerHandlers({ db, clock, tokens }: AppDeps): OperationHandlers {
  const register: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'registerRunner'>;
    if (body.token.trim() === '') throw badRequest('token');
    const outcome = await registerRunner(db, clock, tokens.registrationTokenDigest, {
      api: 'v1',
      token: body.token,
      description: body.description,
      tagList: body.tag_list,
      runUntagged: body.run_untagged,
      locked: body.locked,
      info: body.info,
    });
    if (outcome.kind === 'unknown-token') throw forbidden();
    if (outcome.kind === 'invalid-runner') throw notFound();
    sendJson(ctx, 201, presentRegisteredRunner({ id: outcome.runner.id, token: outcome.token }));
  };

  const unregister: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'deleteRunner'>;
    const runner = await authenticateRunner(c, db, body.token, 'v1');
    // Deleted meanwhile by a concurrent call: the token no longer names a runner.
    if (!(await removeRunner(db, runner.id))) throw forbidden();
    // GitLab answered with the deleted row; we keep no token to show, so the caller's own
    // (which it just proved it has) stands in for it.
    sendJson(ctx, 200, presentRegisteredRunner({ id: runner.id, token: body.token }));
  };

  return {
    registerRunner: register,
    registerRunnerJson: register,
    deleteRunner: unregister,
    deleteRunnerJson: unregister,
  };
}
