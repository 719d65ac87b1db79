import { parseCiConfig } from '../domain/ciConfig.js';
import type { AppDeps, JsonBody, JsonReply, OperationHandlers } from '../http/handlers.js';
import { sendJson } from '../http/respond.js';

/**
 * POST /api/v4/ci/lint. The verdict is parseCiConfig's, the very function pipeline
 * creation validates with, so the two cannot disagree about a config. Pipeline creation
 * refuses one more thing: a valid config none of whose jobs run for the pipeline's ref
 * (only/except). Lint has no ref, so that check does not apply here.
 */
export function lintHandlers(_deps: AppDeps): OperationHandlers {
  return {
    async lintCiConfig(c, ctx) {
      const { content } = c.request.requestBody as JsonBody<'lintCiConfig'>;
      const result = parseCiConfig(content);
      const verdict: JsonReply<'lintCiConfig', 200> = {
        valid: result.valid,
        errors: result.valid ? [] : result.errors,
        warnings: result.warnings,
      };
      sendJson(ctx, 200, verdict);
    },
  };
}
