import { registerRunner } from '../domain/runnerRegistration.js';
import { badRequest, forbidden, notFound } from '../http/errors.js';
import type { AppDeps, Handler, JsonBody, OperationHandlers } from '../http/handlers.js';
import { annotateRequest } from '../http/requestContext.js';
import { sendJson } from '../http/respond.js';
import type { Db } from '../store/db.js';
import { deleteRunner, findRunnerByToken, type RunnerRecord } from '../store/runners.js';
import { presentRegisteredRunner } from './presenters.js';

/** The runner whose token the request carries; 403 for a missing or unknown token, as GitLab answered. */
export async function authenticateRunner(db: Db, token: string | undefined): Promise<RunnerRecord> {
  const runner = token ? await findRunnerByToken(db, token) : undefined;
  if (!runner) throw forbidden();
  annotateRequest({ runnerId: runner.id });
  return runner;
}

export function runnerHandlers({ db, clock, tokens }: AppDeps): OperationHandlers {
  const register: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'registerRunner'>;
    if (body.token.trim() === '') throw badRequest('token');
    const outcome = await registerRunner(db, clock, tokens.registrationToken, body);
    if (outcome.kind === 'unknown-token') throw forbidden();
    if (outcome.kind === 'invalid-runner') throw notFound();
    sendJson(ctx, 201, presentRegisteredRunner(outcome.runner));
  };

  const unregister: Handler = async (c, ctx) => {
    const body = c.request.requestBody as JsonBody<'deleteRunner'>;
    const runner = await authenticateRunner(db, body.token);
    // Deleted meanwhile by a concurrent call: the token no longer names a runner.
    if (!(await deleteRunner(db, runner.id))) throw forbidden();
    sendJson(ctx, 200, presentRegisteredRunner(runner));
  };

  return {
    registerRunner: register,
    registerRunnerJson: register,
    deleteRunner: unregister,
    deleteRunnerJson: unregister,
  };
}
