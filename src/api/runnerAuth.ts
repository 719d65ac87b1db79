import type { Context as OpenApiContext } from 'openapi-backend';
import { runnerSpeaking } from '../domain/runnerRegistration.js';
import { forbidden } from '../http/errors.js';
import { annotateRequest } from '../http/requestContext.js';
import type { Db } from '../store/db.js';
import type { RunnerApiVersion, RunnerRecord } from '../store/runners.js';

/**
 * The runner whose token the request carries, if it registered through `api`; 403 for a
 * missing or unknown token, and for another API's runner token, as GitLab answers an unknown one.
 */
export async function authenticateRunner(c: OpenApiContext, db: Db, token: string | undefined, api: RunnerApiVersion): Promise<RunnerRecord> {
  const runner = await runnerSpeaking(db, token, api);
  if (!runner) throw forbidden();
  annotateRequest(c, { runnerId: runner.id });
  return runner;
}
