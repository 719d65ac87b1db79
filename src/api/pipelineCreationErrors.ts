import { InvalidPipelineConfig } from '../domain/pipelineCreation.js';
import { HttpError } from '../http/errors.js';

/**
 * Runs a pipeline creation and answers an unusable `.gitlab-ci.yml` with 400: `message`
 * in each endpoint's own (GitLab's) words, and every problem of the config in `errors`.
 */
export async function refusingInvalidConfig<T>(message: string, create: () => Promise<T>): Promise<T> {
  try {
    return await create();
  } catch (err) {
    if (err instanceof InvalidPipelineConfig) throw new HttpError(400, message, {}, { errors: err.errors });
    throw err;
  }
}
