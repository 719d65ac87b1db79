import type { Config } from '../config.js';

/**
 * How many bytes of body each operation may send, so that only the calls whose bodies are
 * long by nature may be long. Everything not listed here, and every operation added to
 * openapi.yaml later, gets the small limit: a registration, a poll, a runner's or a user's
 * API call is a token and a few fields.
 */
export const SMALL_BODY_BYTES = 64 * 1024;

/**
 * A `.gitlab-ci.yml` sent in the body (pipeline creation, lint): GitLab's own default
 * bound on a CI config (`max_yaml_size_bytes`, 1 MB).
 */
export const CI_CONFIG_BODY_BYTES = 1024 * 1024;

/** The final `PUT builds/:id` (its `trace` is the whole trace) and the trace PATCH: MAX_BODY_SIZE_MB. */
const LARGE_BODY_OPERATIONS: ReadonlySet<string> = new Set(['updateBuild', 'updateBuildJson', 'appendBuildTrace']);

const CI_CONFIG_OPERATIONS: ReadonlySet<string> = new Set(['createPipeline', 'lintCiConfig']);

/**
 * The body limit of `operationId`. The artifacts upload's file part has its own limit
 * (MAX_ARTIFACTS_SIZE_MB, see multipartUpload.ts); its other fields and any non-multipart
 * body it gets are held to the small limit like every other form.
 */
export function bodyLimitOf(operationId: string | undefined, config: Pick<Config, 'maxBodyBytes'>): number {
  if (operationId !== undefined && LARGE_BODY_OPERATIONS.has(operationId)) return config.maxBodyBytes;
  if (operationId !== undefined && CI_CONFIG_OPERATIONS.has(operationId)) return Math.min(CI_CONFIG_BODY_BYTES, config.maxBodyBytes);
  return Math.min(SMALL_BODY_BYTES, config.maxBodyBytes);
}
