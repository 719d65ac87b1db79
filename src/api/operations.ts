import { checkReadiness } from '../domain/readiness.js';
import { notFound } from '../http/errors.js';
import type { AppDeps, OperationHandlers } from '../http/handlers.js';
import { sendJson, sendText } from '../http/respond.js';

/** Health checks in GitLab's names and shapes, and /metrics. None needs a token. */
export function operationsHandlers({ db, config, metrics }: AppDeps): OperationHandlers {
  return {
    async getHealth(_c, ctx) {
      sendText(ctx, 200, 'GitLab OK');
    },

    async getLiveness(_c, ctx) {
      sendJson(ctx, 200, { status: 'ok' });
    },

    async getReadiness(_c, ctx) {
      const readiness = await checkReadiness(db, config.dataDir);
      sendJson(ctx, readiness.status === 'ok' ? 200 : 503, readiness);
    },

    /** With METRICS_PORT set, the metrics live on that port only (see runtime.ts). */
    async getMetrics(_c, ctx) {
      if (config.metricsPort !== undefined) throw notFound();
      const { contentType, body } = await metrics.exposition();
      ctx.status = 200;
      ctx.body = body;
      ctx.set('Content-Type', contentType);
    },
  };
}
